import { PolarAngleAxis, PolarGrid, PolarRadiusAxis, Radar, RadarChart } from "recharts";
import { SCORE_LABELS, SCORE_NAMES } from "../lib/prosody";
import type { ProsodyResult } from "../lib/types";

/** Confidence / stability / affability of one utterance. */
export function ProsodyRadar({ result, size = 120, showAxis = false }: { result: ProsodyResult; size?: number; showAxis?: boolean }) {
  const data = SCORE_NAMES.map((name) => ({ score: SCORE_LABELS[name], value: Math.round(result.scores?.[name] ?? 0) }));
  return (
    <figure className="radar" aria-label={`韻律分數：${data.map((d) => `${d.score} ${d.value}`).join("、")}`}>
      <RadarChart width={size} height={size} data={data} outerRadius={size * 0.3} margin={{ top: 10, right: 10, bottom: 6, left: 10 }}>
        <PolarGrid stroke="#c9ced6" />
        <PolarAngleAxis dataKey="score" tick={{ fontSize: size < 160 ? 10 : 12, fill: "#37404d" }} />
        {showAxis && <PolarRadiusAxis domain={[0, 100]} tick={{ fontSize: 9 }} angle={90} />}
        <PolarRadiusAxis domain={[0, 100]} tick={false} axisLine={false} />
        <Radar dataKey="value" stroke="#1d5fbf" fill="#1d5fbf" fillOpacity={0.35} isAnimationActive={false} />
      </RadarChart>
    </figure>
  );
}
