import type { Turn } from "../lib/types";

function fmt(ms: number | undefined): string {
  if (ms === undefined) return "—";
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** Per turn: speech end → transcript, first token, first audio, total (all from the moment
 * the user finished: speech end or send). */
export function LatencyStrip({ turn }: { turn: Turn }) {
  const { transcriptMs, firstTokenMs, firstAudioMs, totalMs } = turn.latency;
  const items: [string, string, number | undefined][] = [
    ["transcript", "語音→文字", turn.source === "voice" ? transcriptMs : undefined],
    ["first-token", "首字", firstTokenMs],
    ["first-audio", "首段語音", firstAudioMs],
    ["total", "總計", totalMs],
  ];
  return (
    <dl className="latency" aria-label="延遲" data-testid="latency">
      {items
        .filter(([key]) => key !== "transcript" || turn.source === "voice")
        .map(([key, label, ms]) => (
          <div key={key} className="latency__item" data-key={key} data-ms={ms === undefined ? "" : Math.round(ms)}>
            <dt>{label}</dt>
            <dd>{fmt(ms)}</dd>
          </div>
        ))}
    </dl>
  );
}
