export function PartialTranscript({ text, speaking }: { text: string; speaking: boolean }) {
  if (!text && !speaking) return null;
  return (
    <div className="partial" role="status" aria-live="polite" data-testid="partial-transcript">
      <span className="partial__label">{speaking ? "正在聆聽" : "辨識中"}</span>
      <span className="partial__text">{text || "…"}</span>
    </div>
  );
}
