import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from "recharts";
import { SCORE_LABELS, SCORE_NAMES, isUsable } from "../lib/prosody";
import type { ProsodyResult } from "../lib/types";

const COLORS = { confidence: "#1d5fbf", stability: "#0b7a4b", affability: "#b3420e" } as const;

/** The three scores across the session's utterances. */
export function ProsodyTrend({ results, width = 320 }: { results: ProsodyResult[]; width?: number }) {
  const data = results.filter(isUsable).map((r, i) => ({
    n: `#${i + 1}`,
    ...Object.fromEntries(SCORE_NAMES.map((name) => [name, r.scores?.[name] === undefined ? null : Math.round(r.scores[name]!)])),
  }));
  if (data.length === 0) return null;
  return (
    <figure className="trend" aria-label="本次對話的分數趨勢" data-testid="prosody-trend">
      <LineChart width={width} height={190} data={data} margin={{ top: 8, right: 12, bottom: 4, left: -18 }}>
        <CartesianGrid stroke="#e3e6eb" />
        <XAxis dataKey="n" tick={{ fontSize: 11, fill: "#37404d" }} />
        <YAxis domain={[0, 100]} tick={{ fontSize: 11, fill: "#37404d" }} />
        <Tooltip />
        <Legend wrapperStyle={{ fontSize: 12 }} />
        {SCORE_NAMES.map((name) => (
          <Line key={name} type="monotone" dataKey={name} name={SCORE_LABELS[name]} stroke={COLORS[name]} strokeWidth={2} dot={{ r: 3 }} isAnimationActive={false} />
        ))}
      </LineChart>
    </figure>
  );
}
