import { CartesianGrid, ErrorBar, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from "recharts";
import { SCORE_LABELS, SCORE_NAMES, isUsable } from "../lib/prosody";
import type { ProsodyResult } from "../lib/types";

const COLORS = { confidence: "#1d5fbf", stability: "#0b7a4b", affability: "#b3420e" } as const;

/** The three scores across the session's utterances, each point with its 95 % test-retest
 * interval as an error bar: two points whose bars overlap are not a measured change. */
export function ProsodyTrend({ results, width = 320 }: { results: ProsodyResult[]; width?: number }) {
  const data = results.filter(isUsable).map((r, i) => {
    const row: Record<string, unknown> = { n: `#${i + 1}` };
    for (const name of SCORE_NAMES) {
      const value = r.scores?.[name];
      row[name] = value === undefined ? null : Math.round(value);
      const interval = r.interval?.[name];
      // recharts draws [below, above] as distances from the point (the interval is clipped to 0-100)
      if (value !== undefined && interval) row[`${name}Interval`] = [value - interval.low, interval.high - value];
    }
    return row;
  });
  if (data.length === 0) return null;
  const withIntervals = data.some((row) => SCORE_NAMES.some((name) => row[`${name}Interval`]));
  return (
    <figure className="trend" aria-label="本次對話的分數趨勢" data-testid="prosody-trend">
      <LineChart width={width} height={190} data={data} margin={{ top: 8, right: 12, bottom: 4, left: -18 }}>
        <CartesianGrid stroke="#e3e6eb" />
        <XAxis dataKey="n" tick={{ fontSize: 11, fill: "#37404d" }} />
        <YAxis domain={[0, 100]} tick={{ fontSize: 11, fill: "#37404d" }} />
        <Tooltip />
        <Legend wrapperStyle={{ fontSize: 12 }} />
        {SCORE_NAMES.map((name) => (
          <Line key={name} type="monotone" dataKey={name} name={SCORE_LABELS[name]} stroke={COLORS[name]} strokeWidth={2} dot={{ r: 3 }} isAnimationActive={false}>
            {withIntervals && <ErrorBar dataKey={`${name}Interval`} width={4} strokeWidth={1} stroke={COLORS[name]} direction="y" />}
          </Line>
        ))}
      </LineChart>
      {withIntervals && <figcaption className="trend__caption">直線為各分數的 95% 重測區間；區間重疊的兩句不算真的改變。</figcaption>}
    </figure>
  );
}
