import { SCORE_LABELS, SCORE_NAMES } from "../lib/prosody";
import type { LearnedOpinion, ProsodyResult } from "../lib/types";

/** The three numbers, readable without the chart: each with its test-retest interval and,
 * from the third utterance on, the change against the speaker's own earlier utterances. */
export function ProsodyScores({ result }: { result: ProsodyResult }) {
  return (
    <>
    <dl className="scores" data-testid="prosody-scores">
      {SCORE_NAMES.map((name) => {
        const value = result.scores?.[name];
        const interval = result.interval?.[name];
        const change = result.relative?.scores[name];
        return (
          <div key={name} className="scores__item" data-score={name}>
            <dt>{SCORE_LABELS[name]}</dt>
            <dd>
              {value === undefined ? "—" : Math.round(value)}
              {interval && (
                <span className="scores__interval" title={`95% 重測區間 ${Math.round(interval.low)}–${Math.round(interval.high)}`} data-testid="score-interval">
                  ±{Math.round(interval.halfWidth)}
                </span>
              )}
            </dd>
            {change && (
              <dd
                className={`scores__change ${change.exceedsNoise ? "scores__change--real" : ""}`}
                data-testid="score-change"
                title={`與你先前 ${result.relative!.earlierUtterances} 句的中位數 ${Math.round(change.baseline)} 相比；超過 ±${Math.round(change.threshold)} 才算超出量測誤差`}
              >
                比你平常 {change.change >= 0 ? "+" : "−"}
                {Math.abs(Math.round(change.change))}
                {change.exceedsNoise ? "（明顯）" : "（在誤差內）"}
              </dd>
            )}
          </div>
        );
      })}
    </dl>
    {result.learned && <LearnedLine learned={result.learned} />}
    </>
  );
}

/** The emotion model's opinion, on its own line and labelled as a model's guess: its mapping
 * to the scores is an assumption, so it is never drawn as one of them. */
function LearnedLine({ learned }: { learned: LearnedOpinion }) {
  return (
    <p className="scores__learned" data-testid="learned-opinion" title={learned.assumption}>
      模型第二意見（{learned.engine}，{learned.licence}；不計入分數）：
      {learned.values
        ? ` 激動 ${learned.values.arousal.toFixed(2)} · 支配 ${learned.values.dominance.toFixed(2)} · 正向 ${learned.values.valence.toFixed(2)}`
        : ` 無法使用（${learned.error ?? "未知原因"}）`}
    </p>
  );
}
