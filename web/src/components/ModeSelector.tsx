import type { TtsMode } from "../lib/types";

const MODES: { value: TtsMode; label: string; hint: string }[] = [
  { value: "fast", label: "快速", hint: "最快開口，音質較普通" },
  { value: "hq", label: "高品質", hint: "台灣腔、音色更像，較慢" },
  { value: "both", label: "先快後美", hint: "先用快速模式播放，高品質版本完成後供重播" },
];

interface Props {
  mode: TtsMode;
  disabled: boolean;
  error: string | null;
  onChange: (mode: TtsMode) => void;
}

export function ModeSelector({ mode, disabled, error, onChange }: Props) {
  return (
    <fieldset className="modes" disabled={disabled} data-testid="mode-selector">
      <legend>語音模式</legend>
      {MODES.map((m) => (
        <label key={m.value} className={`mode ${mode === m.value ? "mode--on" : ""}`}>
          <input type="radio" name="tts-mode" value={m.value} checked={mode === m.value} onChange={() => onChange(m.value)} />
          <span className="mode__label">{m.label}</span>
          <span className="mode__hint">{m.hint}</span>
        </label>
      ))}
      {error && (
        <p className="field-error" role="alert" data-testid="mode-error">
          {error}
        </p>
      )}
    </fieldset>
  );
}
