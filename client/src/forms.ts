// Forms and dialogs for the admin pages: native <dialog> (focus trap and Escape for free),
// field specs in, a plain object out, server errors shown next to the form.
import { ApiError } from './api.js';
import { announce, clear, h } from './dom.js';

export interface Field {
  name: string;
  label: string;
  type?: 'text' | 'password' | 'email' | 'number' | 'select' | 'checkboxes' | 'url';
  value?: string | string[];
  required?: boolean;
  placeholder?: string;
  hint?: string;
  options?: Array<{ value: string; label: string }>;
  autocomplete?: string;
}

export type FormValues = Record<string, string | string[]>;
/** A text, number or select field's value ('' when empty): typed for the API contract's request bodies. */
export const textOf = (values: FormValues, name: string): string => {
  const value = values[name];
  return typeof value === 'string' ? value : '';
};
/** A checkboxes field's values. */
export const checkedOf = (values: FormValues, name: string): string[] => {
  const value = values[name];
  return Array.isArray(value) ? value : [];
};

function fieldEl(field: Field, idPrefix: string): HTMLElement {
  const id = `${idPrefix}-${field.name}`;
  const hint = field.hint ? h('small', { class: 'hint', id: `${id}-hint` }, field.hint) : null;
  if (field.type === 'checkboxes') {
    const values = new Set(Array.isArray(field.value) ? field.value : []);
    return h(
      'fieldset',
      { class: 'field' },
      h('legend', {}, field.label),
      ...(field.options ?? []).map((o) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: field.name, value: o.value, checked: values.has(o.value) }), o.label)),
      hint,
    );
  }
  const control =
    field.type === 'select'
      ? h('select', { id, name: field.name, required: field.required }, ...(field.options ?? []).map((o) => h('option', { value: o.value, selected: o.value === field.value }, o.label)))
      : h('input', {
          id,
          name: field.name,
          type: field.type ?? 'text',
          value: typeof field.value === 'string' ? field.value : '',
          required: field.required,
          placeholder: field.placeholder,
          autocomplete: field.autocomplete ?? 'off',
          step: field.type === 'number' ? 'any' : null,
          min: field.type === 'number' ? '0' : null,
          'aria-describedby': hint ? `${id}-hint` : null,
        });
  return h('div', { class: 'field' }, h('label', { for: id }, field.label, field.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null), control, hint);
}

function readForm(form: HTMLFormElement, fields: Field[]): FormValues {
  const data = new FormData(form);
  const values: FormValues = {};
  for (const f of fields) values[f.name] = f.type === 'checkboxes' ? data.getAll(f.name).map(String) : String(data.get(f.name) ?? '').trim();
  return values;
}

/**
 * One message per field: the server's error goes under the field it names (labelled as the form
 * labels it, the parameter name stripped from the text), else at the foot of the form.
 */
function showFieldError(form: HTMLFormElement, fields: Field[], id: string, err: unknown, formError: HTMLElement): void {
  for (const old of form.querySelectorAll('.field-error')) old.remove();
  for (const invalid of form.querySelectorAll('[aria-invalid]')) invalid.removeAttribute('aria-invalid');
  const message = (err as Error).message;
  const param = err instanceof ApiError ? err.param : null;
  const field = param ? fields.find((f) => f.name === param || param.startsWith(`${f.name}.`)) : undefined;
  const text = param && message.startsWith(`${param}: `) ? message.slice(param.length + 2) : message;
  const control = field ? form.querySelector<HTMLElement>(`#${id}-${field.name}`) : null;
  if (!field || !control) {
    formError.textContent = text;
    return;
  }
  const note = h('small', { class: 'field-error', id: `${id}-${field.name}-error`, role: 'alert' }, `${field.label}: ${text.charAt(0).toUpperCase()}${text.slice(1)}`);
  control.after(note);
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-describedby', [control.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' '));
  control.focus();
}

let dialogCount = 0;

/** Opens a modal form; resolves after onSubmit succeeded (dialog closed) or null when cancelled. */
export function formDialog<T>(title: string, fields: Field[], submitLabel: string, onSubmit: (values: FormValues) => Promise<T>, intro?: string): Promise<T | null> {
  const id = `dlg${++dialogCount}`;
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, submitLabel);
  const form = h('form', { method: 'dialog', class: 'form' }, intro ? h('p', { class: 'intro' }, intro) : null, ...fields.map((f) => fieldEl(f, id)), error);
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  form.append(h('div', { class: 'actions' }, cancel, submit));
  const dialog = h('dialog', { 'aria-labelledby': `${id}-title`, class: 'dialog' }, h('h2', { id: `${id}-title` }, title), form);
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    let result: T | null = null;
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(result);
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      submit.disabled = true;
      error.textContent = '';
      try {
        result = await onSubmit(readForm(form, fields));
        dialog.close();
      } catch (err) {
        showFieldError(form, fields, id, err, error);
      } finally {
        submit.disabled = false;
      }
    });
    dialog.showModal();
  });
}

export function confirmDialog(title: string, message: string, action: string, danger = true): Promise<boolean> {
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'confirm-title' }, h('h2', { id: 'confirm-title' }, title), h('p', {}, message));
  const ok = h('button', { type: 'button', class: danger ? 'btn btn-danger' : 'btn btn-primary' }, action);
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  dialog.append(h('div', { class: 'actions' }, cancel, ok));
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    let confirmed = false;
    ok.addEventListener('click', () => {
      confirmed = true;
      dialog.close();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(confirmed);
    });
    dialog.showModal();
    cancel.focus();
  });
}

/** Shows a secret exactly once, with a copy button; nothing keeps it after the dialog closes. */
export function secretDialog(title: string, secret: string, note: string): Promise<void> {
  // A text area sized to the secret: the whole key is visible, never cut off at the field's edge.
  const value = h('textarea', { readonly: true, class: 'secret', id: 'secret-value', 'aria-label': 'New secret', 'data-secret': true, rows: Math.max(1, Math.ceil(secret.length / 48)), spellcheck: 'false' });
  // The property, not the attribute: the secret never becomes part of the serialised DOM.
  value.value = secret;
  const copy = h('button', { type: 'button', class: 'btn btn-primary' }, 'Copy');
  const copied = h('span', { class: 'copied', role: 'status' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret);
      copied.textContent = 'Copied to the clipboard.';
    } catch {
      value.select();
      copied.textContent = 'Select the text and copy it (Ctrl/Cmd+C): the browser blocked clipboard access.';
    }
  });
  const done = h('button', { type: 'button', class: 'btn' }, 'Done — I saved it');
  const dialog = h(
    'dialog',
    { class: 'dialog', 'aria-labelledby': 'secret-title' },
    h('h2', { id: 'secret-title' }, title),
    h('p', { class: 'warning' }, note),
    h('div', { class: 'secret-row' }, value, copy),
    copied,
    h('div', { class: 'actions' }, done),
  );
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    done.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      value.value = '';
      dialog.remove();
      resolve();
    });
    dialog.showModal();
    value.select();
  });
}

/** Runs an admin action, announcing success or the server's error message. */
export async function act(work: () => Promise<unknown>, success: string): Promise<boolean> {
  try {
    await work();
    announce(success);
    return true;
  } catch (error) {
    announce((error as Error).message, 'error');
    return false;
  }
}

export function statusNote(el: HTMLElement, message: string, kind: 'info' | 'error' | 'unavailable' = 'info'): void {
  clear(el, message ? h('p', { class: `state-msg state-${kind}` }, message) : null);
}
