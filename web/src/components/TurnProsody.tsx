import { isUsable } from "../lib/prosody";
import type { ProsodyResult } from "../lib/types";
import { ProsodyRadar } from "./ProsodyRadar";
import { ProsodyScores } from "./ProsodyScores";

/** The small prosody report under a spoken turn; opens the detail view. */
export function TurnProsody({ result, onOpen }: { result: ProsodyResult | undefined; onOpen: () => void }) {
  if (!result) return null;
  if (!isUsable(result)) {
    return (
      <p className="turn-prosody turn-prosody--poor" data-testid="turn-prosody">
        韻律分析：錄音品質不足{result.qualityReason ? `（${result.qualityReason}）` : ""}
      </p>
    );
  }
  return (
    <div className="turn-prosody" data-testid="turn-prosody">
      <ProsodyRadar result={result} size={130} />
      <div>
        <ProsodyScores result={result} />
        <button type="button" className="link-button" onClick={onOpen}>
          查看詳細分析
        </button>
      </div>
    </div>
  );
}
