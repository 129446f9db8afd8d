import type { ProsodyResult, Turn } from "../lib/types";
import { ProsodyDetail } from "./ProsodyDetail";
import { ProsodyTrend } from "./ProsodyTrend";

interface Props {
  results: ProsodyResult[];
  turns: Turn[];
  selectedId: string | null;
  onSelect: (transcriptionId: string) => void;
}

/** The session's prosody report: the trend, a list of utterances, one utterance in detail. */
export function ProsodyPanel({ results, turns, selectedId, onSelect }: Props) {
  const textOf = (id: string) => {
    const result = results.find((r) => r.transcriptionId === id);
    return turns.find((t) => t.transcriptionId === id || (result?.turnId && t.serverId === result.turnId))?.userText;
  };
  const selected = results.find((r) => r.transcriptionId === selectedId) ?? results[results.length - 1];
  return (
    <div className="panel" data-testid="prosody-panel">
      {results.length === 0 && <p className="notice">說一句話後，這裡會顯示自信、穩定、親和三項分數（0–100）與趨勢。</p>}
      {results.length > 0 && (
        <>
          <h3 className="panel__heading">本次對話趨勢</h3>
          <ProsodyTrend results={results} />
          <h3 className="panel__heading">逐句分析</h3>
          <div className="utterances" role="list">
            {results.map((r, i) => (
              <button
                key={r.transcriptionId}
                type="button"
                role="listitem"
                className={`chip ${selected?.transcriptionId === r.transcriptionId ? "chip--on" : ""}`}
                aria-current={selected?.transcriptionId === r.transcriptionId}
                onClick={() => onSelect(r.transcriptionId)}
                title={textOf(r.transcriptionId)}
              >
                第 {i + 1} 句
              </button>
            ))}
          </div>
          {selected && <ProsodyDetail result={selected} utterance={textOf(selected.transcriptionId)} />}
        </>
      )}
    </div>
  );
}
