import { useCallback, useRef, useState } from "react";
import type { Toast } from "../lib/types";

export function useToasts(lifetimeMs = 8000) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);
  const push = useCallback(
    (toast: Omit<Toast, "id">) => {
      const id = next.current++;
      setToasts((list) => [...list.slice(-3), { ...toast, id }]);
      setTimeout(() => dismiss(id), lifetimeMs);
    },
    [dismiss, lifetimeMs],
  );
  return { toasts, push, dismiss };
}
