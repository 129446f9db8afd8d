import type { ConnectionState } from "../lib/types";

const TEXT: Record<ConnectionState["kind"], string> = {
  connecting: "連線中…",
  connected: "已連線",
  reconnecting: "連線中斷，重新連線中",
  busy: "系統忙碌中",
  failed: "無法連線",
};

export function ConnectionStatus({ state, onRetry }: { state: ConnectionState; onRetry: () => void }) {
  let detail = "";
  if (state.kind === "reconnecting") detail = `（第 ${state.attempt} 次，${Math.ceil(state.inMs / 1000)} 秒後重試）`;
  if (state.kind === "busy") {
    detail = `${state.position ? `：排隊第 ${state.position} 位` : ""}${state.retryAfterS ? `，約 ${Math.ceil(state.retryAfterS)} 秒後重試` : ""}`;
  }
  if (state.kind === "failed") detail = `：${state.message}`;
  return (
    <div className={`connection connection--${state.kind}`} role="status" aria-live="polite" data-testid="connection" data-state={state.kind}>
      <span className="connection__dot" aria-hidden="true" />
      <span>
        {TEXT[state.kind]}
        {detail}
      </span>
      {state.kind !== "connected" && state.kind !== "connecting" && (
        <button type="button" className="button button--small" onClick={onRetry}>
          立即重試
        </button>
      )}
    </div>
  );
}
