import type { Turn } from "../lib/types";

const LABELS: Record<Turn["status"], string> = {
  sending: "傳送中",
  thinking: "思考中",
  streaming: "回覆中",
  speaking: "語音合成中",
  done: "完成",
  error: "錯誤",
  interrupted: "已中斷",
};

export function TurnStatusBadge({ turn }: { turn: Turn }) {
  const playing = turn.playback === "playing";
  return (
    <span className={`badge badge--${turn.status}`} data-testid="turn-status" data-status={turn.status}>
      {playing ? "播放中" : LABELS[turn.status]}
      {turn.failedChunks > 0 && `（${turn.failedChunks} 句失敗）`}
    </span>
  );
}
