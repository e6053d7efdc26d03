import Form from '@rjsf/core';
import type { FieldProps, IconButtonProps, RJSFSchema, UiSchema, WidgetProps } from '@rjsf/utils';
import { customizeValidator } from '@rjsf/validator-ajv8';
import Ajv2020 from 'ajv/dist/2020';
import { useMemo, useRef, useState } from 'react';
import type { JSONSchema } from '../backend/types';
import { useStudio } from '../store/store';


/** JSON Schema draft 2020-12 validation; `format: asset` is a stored asset (sha256) or a path. */
export const validator = customizeValidator({
  AjvClass: Ajv2020 as never,
  customFormats: { asset: (s: string) => s.length > 0 },
  ajvOptionsOverrides: { strict: false },
});

/** Where the schema marks an asset (format "asset" or x-asset-kind), the form shows the asset picker. */
export function assetUISchema(schema: JSONSchema | undefined): UiSchema {
  const ui: UiSchema = {};
  if (!schema || typeof schema !== 'object') return ui;
  if (schema.format === 'asset' || typeof schema['x-asset-kind'] === 'string') {
    return { 'ui:widget': 'asset' };
  }
  // A free-form object (no declared properties) is edited as JSON text.
  if (schema.type === 'object' && !schema.properties && (schema.additionalProperties === undefined || schema.additionalProperties === true)) {
    return { 'ui:field': 'json' };
  }
  // Maps whose values are assets (name → sha256): each value gets the picker.
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    const sub = assetUISchema(schema.additionalProperties as JSONSchema);
    if (Object.keys(sub).length) ui.additionalProperties = sub;
  }
  // Items of a list of plain values need no label each.
  const items = schema.items as JSONSchema | undefined;
  if (schema.type === 'array' && items && typeof items === 'object' && items.type !== 'object') {
    ui.items = { 'ui:label': false };
  }
  const props = schema.properties as Record<string, JSONSchema> | undefined;
  // Field order: the spec's, when the schema carries it (x-order), since JSON objects lose it.
  const order = schema['x-order'];
  if (Array.isArray(order) && order.length) ui['ui:order'] = [...order.filter((k) => props && k in props), '*'];
  for (const [k, s] of Object.entries(props ?? {})) {
    const sub = assetUISchema(s);
    if (Object.keys(sub).length) ui[k] = sub;
  }
  if (items && typeof items === 'object') {
    const sub = assetUISchema(items);
    if (Object.keys(sub).length) ui.items = { ...(ui.items as object), ...sub };
  }
  return ui;
}

/** The asset picker: stored assets of the field's kind, by name; the value is the sha256. */
export function AssetWidget(props: WidgetProps) {
  const { id, value, onChange, schema, disabled, readonly, required } = props;
  const assets = useStudio((s) => s.assets);
  const upload = useStudio((s) => s.uploadAsset);
  const file = useRef<HTMLInputElement>(null);
  const kind = (schema as JSONSchema)['x-asset-kind'] as string | undefined;
  const choices = assets.filter((a) => !kind || a.kind === kind);
  const known = choices.some((a) => a.sha256 === value);
  // The value may also be a file path; such a value is edited as text.
  const isPath = typeof value === 'string' && value !== '' && !/^[0-9a-f]{64}$/.test(value);
  const [asPath, setAsPath] = useState(isPath);
  return (
    <div className="asset-widget">
      {asPath ? (
        <input
          id={id}
          type="text"
          value={value ?? ''}
          placeholder="file path"
          disabled={disabled || readonly}
          onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value)}
        />
      ) : (
        <select
          id={id}
          value={value ?? ''}
          disabled={disabled || readonly}
          required={required}
          onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value)}
          data-testid={`asset-select-${id}`}
        >
          <option value="">— choose {kind ?? 'an asset'} —</option>
          {choices.map((a) => (
            <option key={a.sha256} value={a.sha256}>
              {a.name} ({a.sha256.slice(0, 8)})
            </option>
          ))}
          {value && !known && <option value={value}>{String(value).slice(0, 12)}… (not stored)</option>}
        </select>
      )}
      <button type="button" className="small" title={asPath ? 'Choose a stored asset' : 'Enter a file path'} onClick={() => setAsPath(!asPath)}>
        {asPath ? 'Asset' : 'Path'}
      </button>
      <button type="button" className="small" onClick={() => file.current?.click()} disabled={disabled || readonly}>
        Upload…
      </button>
      <input
        ref={file}
        type="file"
        hidden
        onChange={async (e) => {
          const f = e.target.files?.[0];
          e.target.value = '';
          if (!f) return;
          const a = await upload(f, kind);
          if (a) onChange(a.sha256);
        }}
      />
    </div>
  );
}

const widgets = { asset: AssetWidget };

/** A free-form JSON object, edited as text; invalid JSON is shown and not applied. */
export function JSONField(props: FieldProps) {
  const { formData, onChange, fieldPathId, schema, name, disabled, readonly } = props;
  const [text, setText] = useState(() => JSON.stringify(formData ?? {}, null, 2));
  const [err, setErr] = useState('');
  return (
    <div className="form-group json-field">
      <label className="control-label" htmlFor={fieldPathId.$id}>
        {schema.title ?? name}
      </label>
      {schema.description && <p className="field-description">{schema.description}</p>}
      <textarea
        id={fieldPathId.$id}
        rows={4}
        value={text}
        disabled={disabled || readonly}
        spellCheck={false}
        onChange={(e) => {
          setText(e.target.value);
          try {
            const v = e.target.value.trim() === '' ? undefined : JSON.parse(e.target.value);
            if (v !== undefined && (typeof v !== 'object' || Array.isArray(v) || v === null)) throw new Error('must be a JSON object');
            setErr('');
            onChange(v, fieldPathId.path);
          } catch (x) {
            setErr((x as Error).message);
          }
        }}
      />
      {err && <div className="error-detail">{err}</div>}
    </div>
  );
}

const fields = { json: JSONField };

/** Text buttons for arrays and maps (rjsf's defaults expect an icon font). */
function textButton(label: string, title: string) {
  return function TextButton(props: IconButtonProps) {
    const { onClick, disabled, style } = props;
    return (
      <button type="button" className="small form-btn" title={title} onClick={onClick} disabled={disabled} style={style}>
        {label}
      </button>
    );
  };
}

const templates = {
  ButtonTemplates: {
    AddButton: textButton('+ Add', 'Add an item'),
    RemoveButton: textButton('✕', 'Remove'),
    MoveUpButton: textButton('↑', 'Move up'),
    MoveDownButton: textButton('↓', 'Move down'),
    CopyButton: textButton('⧉', 'Copy'),
  },
};

/** The side panel of the selected node: its config as a form generated from the spec's JSON Schema. */
export function ConfigPanel() {
  const selected = useStudio((s) => {
    const sel = s.nodes.filter((n) => n.selected);
    return sel.length === 1 ? sel[0] : null;
  });
  const count = useStudio((s) => s.nodes.filter((n) => n.selected).length);
  const spec = useStudio((s) => (selected ? s.specs[selected.data.type] : undefined));
  const allProblems = useStudio((s) => s.problems);
  const problems = selected ? allProblems.filter((p) => p.node === selected.id) : [];
  const updateConfig = useStudio((s) => s.updateConfig);
  // The form's heading is the panel's; the schema's root title (the type id) is not repeated.
  const schema = useMemo(() => {
    if (!spec) return undefined;
    const { title: _t, ...rest } = spec.config_schema;
    void _t;
    return rest as RJSFSchema;
  }, [spec]);
  // Edits from the form flow into the store; a config changed elsewhere (undo, an example, a
  // paste) remounts the form, since rjsf does not pick up every external change (new map keys).
  const fromForm = useRef<string>('');
  const generation = useRef(0);
  const configJSON = selected ? JSON.stringify(selected.data.config) : '';
  if (configJSON !== fromForm.current) {
    generation.current++;
    fromForm.current = configJSON;
  }
  const uiSchema = useMemo(() => ({ ...assetUISchema(schema as JSONSchema), 'ui:submitButtonOptions': { norender: true } }), [schema]);

  if (!selected) {
    return (
      <div className="panel-empty">
        {count > 1 ? `${count} nodes selected` : 'Select a node to edit its configuration.'}
      </div>
    );
  }
  return (
    <div className="config-panel" data-testid="config-panel">
      <div className="config-head">
        <div className="config-title">{selected.id}</div>
        <div className="config-type">{selected.data.type}</div>
        {spec && <div className="config-summary">{spec.summary}</div>}
        {spec && !spec.headless && <div className="config-note">Studio only: not exported to the runner.</div>}
      </div>
      {problems.length > 0 && (
        <ul className="config-problems" data-testid="config-problems">
          {problems.map((p, i) => (
            <li key={i}>
              {[p.port && `port ${p.port}`, p.field].filter(Boolean).join(' ')} {p.message}
            </li>
          ))}
        </ul>
      )}
      {!spec ? (
        <div className="panel-empty">Unknown node type {selected.data.type}.</div>
      ) : (
        <>
          <Form
            key={`${selected.id}#${generation.current}`}
            schema={schema ?? {}}
            uiSchema={uiSchema}
            formData={selected.data.config}
            validator={validator}
            widgets={widgets}
            fields={fields}
            templates={templates}
            liveValidate="onChange"
            showErrorList={false}
            noHtml5Validate
            onChange={(e) => {
              const c = (e.formData ?? {}) as Record<string, unknown>;
              fromForm.current = JSON.stringify(c);
              updateConfig(selected.id, c);
            }}
          />
          {spec.examples?.length > 0 && (
            <div className="config-examples">
              <span>Examples:</span>
              {spec.examples.map((ex) => (
                <button
                  key={ex.name}
                  type="button"
                  className="small"
                  onClick={() => updateConfig(selected.id, structuredClone(ex.config))}
                >
                  {ex.name}
                </button>
              ))}
            </div>
          )}
          {spec.docs && (
            <details className="config-docs">
              <summary>Docs</summary>
              <pre>{spec.docs}</pre>
            </details>
          )}
        </>
      )}
    </div>
  );
}
