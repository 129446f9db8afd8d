import { SCORE_LABELS, SCORE_NAMES } from "../lib/prosody";
import type { ProsodyResult } from "../lib/types";

/** The three numbers, readable without the chart. */
export function ProsodyScores({ result }: { result: ProsodyResult }) {
  return (
    <dl className="scores" data-testid="prosody-scores">
      {SCORE_NAMES.map((name) => (
        <div key={name} className="scores__item" data-score={name}>
          <dt>{SCORE_LABELS[name]}</dt>
          <dd>{result.scores?.[name] === undefined ? "—" : Math.round(result.scores[name]!)}</dd>
        </div>
      ))}
    </dl>
  );
}
