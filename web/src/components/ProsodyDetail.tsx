import { SCORE_LABELS, SCORE_NAMES, isUsable, topContributions } from "../lib/prosody";
import type { ProsodyResult } from "../lib/types";
import { ProsodyRadar } from "./ProsodyRadar";
import { ProsodyScores } from "./ProsodyScores";

/** One utterance: the three scores and the features that moved each one most. */
export function ProsodyDetail({ result, utterance }: { result: ProsodyResult; utterance?: string }) {
  if (!isUsable(result)) {
    return (
      <div className="prosody-detail" data-testid="prosody-detail">
        <p className="notice">這段錄音品質不足，無法評分{result.qualityReason ? `：${result.qualityReason}` : "。"}</p>
      </div>
    );
  }
  const grouped = SCORE_NAMES.map((name) => ({ name, items: topContributions(result.contributions, 3, name) })).filter((g) => g.items.length);
  const ungrouped = grouped.length ? [] : topContributions(result.contributions, 5);
  return (
    <div className="prosody-detail" data-testid="prosody-detail">
      {utterance && <p className="prosody-detail__utterance">「{utterance}」</p>}
      <div className="prosody-detail__top">
        <ProsodyRadar result={result} size={190} showAxis />
        <ProsodyScores result={result} />
      </div>
      {result.summary && <p>{result.summary}</p>}
      {(grouped.length > 0 || ungrouped.length > 0) && <h4>影響最大的特徵</h4>}
      {grouped.map((g) => (
        <div key={g.name}>
          <h5>{SCORE_LABELS[g.name]}</h5>
          <Contributions items={g.items} />
        </div>
      ))}
      {ungrouped.length > 0 && <Contributions items={ungrouped} />}
    </div>
  );
}

function Contributions({ items }: { items: ReturnType<typeof topContributions> }) {
  const max = Math.max(...items.map((c) => Math.abs(c.value)), 1e-9);
  return (
    <ul className="contributions" data-testid="contributions">
      {items.map((c) => (
        <li key={`${c.score}-${c.feature}`}>
          <span className="contributions__name">{c.feature}</span>
          <span className={`contributions__bar ${c.value < 0 ? "contributions__bar--neg" : ""}`} style={{ width: `${(Math.abs(c.value) / max) * 100}%` }} aria-hidden="true" />
          <span className="contributions__value">
            {c.value > 0 ? "+" : ""}
            {c.value.toFixed(2)}
          </span>
        </li>
      ))}
    </ul>
  );
}
