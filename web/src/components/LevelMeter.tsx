/** Input level (RMS 0..1) on a perceptual scale. */
export function LevelMeter({ level }: { level: number }) {
  const db = level > 0 ? 20 * Math.log10(level) : -100;
  const percent = Math.max(0, Math.min(100, Math.round(((db + 60) / 60) * 100)));
  return (
    <div className="meter" role="meter" aria-label="麥克風音量" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} data-testid="level-meter">
      <div className="meter__fill" style={{ width: `${percent}%` }} />
    </div>
  );
}
