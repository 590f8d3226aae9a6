/**
 * Files to send with the next message: picked with the button, dropped on the chat, or pasted. Each file
 * is checked against the server's limits before it is read; a refused file shows why, it never just
 * disappears.
 */

const TYPE_NAMES = {
  "image/jpeg": "JPEG",
  "image/png": "PNG",
  "image/gif": "GIF",
  "image/webp": "WebP",
  "application/pdf": "PDF",
};

export class Attachments {
  /**
   * @param {object} parts  { button, input, previews, errors, dropTarget, dropOverlay, onChange }
   * @param {object} limits { enabled, max_bytes, max_count, mime_types } from /api/info
   */
  constructor(parts, limits) {
    this.parts = parts;
    this.limits = limits;
    this.files = []; // { name, mime_type, data (base64), size, url? }
    this.reading = 0;
    this.enabled = Boolean(limits.enabled);

    parts.button.hidden = !this.enabled;
    parts.input.accept = limits.mime_types.join(",");
    parts.button.addEventListener("click", () => parts.input.click());
    parts.input.addEventListener("change", () => {
      this.add([...parts.input.files]);
      parts.input.value = "";
    });
    this.listenForDrops(parts.dropTarget, parts.dropOverlay);
  }

  get count() {
    return this.files.length;
  }

  get busy() {
    return this.reading > 0;
  }

  /** The files for one message, as the server wants them; clears the list. */
  take() {
    const taken = this.files.map(({ name, mime_type, data }) => ({ name, mime_type, data }));
    for (const file of this.files) if (file.url) URL.revokeObjectURL(file.url);
    this.files = [];
    this.showErrors([]);
    this.renderPreviews();
    return taken;
  }

  /** Checks each file; reads the accepted ones; lists the refused ones with the reason. */
  add(files) {
    if (files.length === 0) return;
    const errors = [];
    if (!this.enabled) {
      this.showErrors(["Attachments are turned off for this chat."]);
      return;
    }
    for (const file of files) {
      const problem = this.check(file);
      if (problem) errors.push(problem);
      else this.read(file);
    }
    this.showErrors(errors);
  }

  check(file) {
    const { max_bytes: maxBytes, max_count: maxCount, mime_types: types } = this.limits;
    const name = `“${file.name || "file"}”`;
    if (!types.includes(file.type)) {
      const allowed = types.map((t) => TYPE_NAMES[t] ?? t).join(", ");
      return `${name} can't be attached: only ${allowed} files are supported${file.type ? ` (this one is ${file.type})` : ""}.`;
    }
    if (file.size > maxBytes) return `${name} is too large (${formatSize(file.size)}); the limit is ${formatSize(maxBytes)} per file.`;
    if (file.size === 0) return `${name} is empty.`;
    if (this.files.length + this.reading >= maxCount) return `${name} was not added: at most ${maxCount} files per message.`;
    return null;
  }

  read(file) {
    this.reading++;
    this.parts.onChange();
    const reader = new FileReader();
    reader.onload = () => {
      const dataUrl = String(reader.result);
      const entry = { name: file.name || "file", mime_type: file.type, data: dataUrl.slice(dataUrl.indexOf(",") + 1), size: file.size };
      if (file.type.startsWith("image/")) entry.url = URL.createObjectURL(file);
      this.files.push(entry);
    };
    reader.onerror = () => this.showErrors([`“${file.name}” could not be read.`]);
    reader.onloadend = () => {
      this.reading--;
      this.renderPreviews();
      this.parts.onChange();
    };
    reader.readAsDataURL(file);
  }

  remove(entry) {
    if (entry.url) URL.revokeObjectURL(entry.url);
    this.files = this.files.filter((f) => f !== entry);
    this.renderPreviews();
    this.parts.onChange();
  }

  renderPreviews() {
    const list = this.parts.previews;
    list.replaceChildren();
    for (const file of this.files) {
      const item = document.createElement("li");
      item.className = "preview";
      if (file.url) {
        const img = document.createElement("img");
        img.src = file.url;
        img.alt = "";
        item.append(img);
      }
      const name = document.createElement("span");
      name.textContent = `${file.name} (${formatSize(file.size)})`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.title = `Remove ${file.name}`;
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.addEventListener("click", () => this.remove(file));
      item.append(name, remove);
      list.append(item);
    }
    list.hidden = this.files.length === 0;
  }

  showErrors(messages) {
    const box = this.parts.errors;
    box.replaceChildren(...messages.map((m) => Object.assign(document.createElement("p"), { textContent: m })));
    box.hidden = messages.length === 0;
  }

  listenForDrops(target, overlay) {
    let depth = 0; // dragenter/dragleave fire for every child element crossed
    const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
    target.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth++;
      overlay.hidden = false;
    });
    target.addEventListener("dragover", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault(); // allows the drop
      e.dataTransfer.dropEffect = this.enabled ? "copy" : "none";
    });
    target.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) overlay.hidden = true;
    });
    target.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault(); // never let the browser navigate away to the dropped file
      depth = 0;
      overlay.hidden = true;
      this.add([...e.dataTransfer.files]);
    });
  }

  /** Images pasted into the message box. */
  paste(event) {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length === 0) return;
    event.preventDefault();
    this.add(files);
  }
}

function formatSize(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}
