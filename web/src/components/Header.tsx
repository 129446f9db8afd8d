import type { ConnectionState } from "../lib/types";
import { ConnectionStatus } from "./ConnectionStatus";

interface Props {
  state: ConnectionState;
  onRetry: () => void;
  onNewSession: () => void;
}

export function Header({ state, onRetry, onNewSession }: Props) {
  return (
    <header className="header">
      <div className="header__brand">
        <span className="header__logo" aria-hidden="true">
          A
        </span>
        <div>
          <h1 className="header__title">AVATAR 語音助理</h1>
          <p className="header__subtitle">本地模型・台灣華語・用你的聲音回答</p>
        </div>
      </div>
      <div className="header__actions">
        <ConnectionStatus state={state} onRetry={onRetry} />
        <button type="button" className="button button--ghost" onClick={onNewSession}>
          新對話
        </button>
      </div>
    </header>
  );
}
