import type { ProsodyResult, Turn } from "../lib/types";
import { LatencyStrip } from "./LatencyStrip";
import { MessageBubble } from "./MessageBubble";
import { MicIcon } from "./MicIcon";
import { ReplayButton } from "./ReplayButton";
import { TurnProsody } from "./TurnProsody";
import { TurnStatusBadge } from "./TurnStatusBadge";
import { TypingIndicator } from "./TypingIndicator";

interface Props {
  turn: Turn;
  prosody?: ProsodyResult;
  onOpenProsody: (transcriptionId: string) => void;
  onBeforeReplay: () => void;
}

export function TurnView({ turn, prosody, onOpenProsody, onBeforeReplay }: Props) {
  const waiting = turn.status === "sending" || turn.status === "thinking";
  return (
    <li className="turn" data-testid="turn" data-turn-id={turn.serverId ?? ""} data-status={turn.status} data-playback={turn.playback} data-source={turn.source} data-user-text={turn.userText}>
      <div className="turn__user">
        <MessageBubble role="user" label="你說">
          {turn.source === "voice" && (
            <span className="bubble__mic" title="語音輸入">
              <MicIcon size={14} />
              <span className="visually-hidden">語音輸入</span>{" "}
            </span>
          )}
          {turn.userText || <em className="muted">（語音）</em>}
        </MessageBubble>
        {(turn.source === "voice" || prosody) && <TurnProsody result={prosody} onOpen={() => prosody && onOpenProsody(prosody.transcriptionId)} />}
      </div>
      <div className="turn__assistant">
        <MessageBubble role="assistant" label="助理回答">
          {turn.reply ? <span data-testid="reply-text">{turn.reply}</span> : waiting ? <TypingIndicator /> : null}
          {turn.status === "streaming" && <span className="caret" aria-hidden="true" />}
          {turn.error && (
            <span className="bubble__error" role="alert">
              {turn.error.message}（{turn.error.code}）
            </span>
          )}
        </MessageBubble>
        <div className="turn__meta">
          <TurnStatusBadge turn={turn} />
          <ReplayButton turn={turn} onBeforePlay={onBeforeReplay} />
          <LatencyStrip turn={turn} />
        </div>
      </div>
    </li>
  );
}
