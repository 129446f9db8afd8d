import type { ReactNode } from "react";

export function MessageBubble({ role, children, label }: { role: "user" | "assistant"; children: ReactNode; label: string }) {
  return (
    <div className={`bubble bubble--${role}`} data-testid={`bubble-${role}`}>
      <span className="visually-hidden">{label}：</span>
      {children}
    </div>
  );
}
