// Keyboard answers to an approval, while focus is inside its box: Enter or A accepts, S accepts
// for the session, D declines. Only there: a stray key press elsewhere on the page must never
// approve a command.
import { optionForKey, type DecisionOption } from "./decisions";
import { isTypingTarget } from "./keys";

export interface ShortcutParams {
  options: DecisionOption[];
  enabled: boolean;
  choose: (option: DecisionOption) => void;
}

/** Svelte action on the approval's box. */
export function approvalShortcuts(node: HTMLElement, initial: ShortcutParams): { update(p: ShortcutParams): void; destroy(): void } {
  let params = initial;
  const onKey = (e: KeyboardEvent) => {
    if (!params.enabled || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (isTypingTarget(e.target)) return;
    // Enter on a button or link is that button's or link's own.
    if (e.key === "Enter" && e.target !== node) return;
    const option = optionForKey(params.options, e.key);
    if (!option) return;
    e.preventDefault();
    params.choose(option);
  };
  node.addEventListener("keydown", onKey);
  return {
    update(p) {
      params = p;
    },
    destroy() {
      node.removeEventListener("keydown", onKey);
    },
  };
}
