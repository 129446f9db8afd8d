import type { VoiceProfile } from "../lib/types";
import { VoiceItem } from "./VoiceItem";

interface Props {
  profiles: VoiceProfile[];
  selectedId: string | null;
  /** per voice id: why the page stopped waiting for its analysis */
  notes?: Record<string, string>;
  onSelect: (id: string | null) => void;
  onDelete: (id: string) => Promise<void>;
}

export function VoiceList({ profiles, selectedId, notes = {}, onSelect, onDelete }: Props) {
  return (
    <ul className="voices" aria-label="我的聲音" data-testid="voice-list">
      <li className={`voice ${selectedId === null ? "voice--on" : ""}`}>
        <label className="voice__choose">
          <input type="radio" name="voice" checked={selectedId === null} onChange={() => onSelect(null)} />
          <span className="voice__name">預設聲音</span>
          <span className="muted small">系統內建</span>
        </label>
      </li>
      {profiles.map((p) => (
        <VoiceItem key={p.id} profile={p} selected={selectedId === p.id} note={notes[p.id]} onSelect={() => onSelect(p.id)} onDelete={() => onDelete(p.id)} />
      ))}
    </ul>
  );
}
