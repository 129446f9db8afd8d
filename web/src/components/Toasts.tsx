import type { Toast } from "../lib/types";

export function Toasts({ toasts, onDismiss }: { toasts: Toast[]; onDismiss: (id: number) => void }) {
  return (
    <div className="toasts" aria-live="assertive" aria-atomic="false">
      {toasts.map((toast) => (
        <div key={toast.id} className={`toast toast--${toast.tone}`} role={toast.tone === "error" ? "alert" : "status"} data-testid="toast" data-code={toast.code}>
          <div className="toast__body">
            {toast.tone === "error" && <strong className="toast__code">{toast.code}</strong>}
            <span>{toast.message}</span>
          </div>
          <button type="button" className="toast__close" aria-label="關閉通知" onClick={() => onDismiss(toast.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
