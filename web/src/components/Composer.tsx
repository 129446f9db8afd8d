import { useState, type FormEvent, type KeyboardEvent } from "react";

export const MAX_CHARS = 2000;

export function Composer({ disabled, onSend }: { disabled: boolean; onSend: (text: string) => Promise<boolean> }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const trimmed = text.trim();
  const tooLong = trimmed.length > MAX_CHARS;

  const submit = async (event?: FormEvent) => {
    event?.preventDefault();
    if (!trimmed || tooLong || disabled || busy) return;
    setBusy(true);
    const sent = trimmed;
    setText("");
    const ok = await onSend(sent);
    if (!ok) setText((current) => current || sent);
    setBusy(false);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void submit();
    }
  };

  return (
    <form className="composer" onSubmit={submit} aria-label="傳送訊息">
      <label htmlFor="message" className="visually-hidden">
        訊息
      </label>
      <textarea
        id="message"
        className="composer__input"
        value={text}
        rows={2}
        placeholder={disabled ? "連線中，請稍候…" : "輸入訊息，Enter 送出，Shift+Enter 換行"}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        aria-invalid={tooLong}
        aria-describedby={tooLong ? "message-error" : undefined}
      />
      <button type="submit" className="button button--primary" disabled={disabled || busy || !trimmed || tooLong}>
        送出
      </button>
      {tooLong && (
        <p id="message-error" className="field-error" role="alert">
          訊息過長：{trimmed.length} 字，上限 {MAX_CHARS} 字。
        </p>
      )}
    </form>
  );
}
