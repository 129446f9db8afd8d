export function TypingIndicator() {
  return (
    <span className="typing" role="status" aria-label="助理正在輸入" data-testid="typing">
      <span />
      <span />
      <span />
    </span>
  );
}
