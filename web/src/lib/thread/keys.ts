// When Enter sends. With a hardware keyboard, Enter sends and Shift+Enter starts a new line (the
// chat convention). On a touch keyboard there is no Shift+Enter to reach for, so Enter is a new
// line and the Send button sends (the keyboard shows "send" through `enterkeyhint`).

export interface EnterEvent {
  key: string;
  shiftKey: boolean;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  isComposing: boolean;
  keyCode?: number;
}

export function sendsOnEnter(e: EnterEvent, touchKeyboard: boolean): boolean {
  // An IME is composing (Japanese, Chinese…): its Enter confirms the text, never sends.
  if (e.key !== "Enter" || e.isComposing || e.keyCode === 229) return false;
  if (e.ctrlKey || e.metaKey) return true;
  if (e.shiftKey || e.altKey) return false;
  return !touchKeyboard;
}

/** A device whose keyboard is most likely on screen: touch first, no fine pointer. */
export function touchKeyboardLikely(): boolean {
  if (typeof matchMedia === "undefined") return false;
  return matchMedia("(hover: none) and (pointer: coarse)").matches && !matchMedia("(any-pointer: fine)").matches;
}

/** Whether a key press happened where typing goes (shortcuts must not fire there). */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  const type = (target as HTMLInputElement).type;
  return !["button", "checkbox", "radio", "submit", "reset", "file", "range", "color"].includes(type);
}
