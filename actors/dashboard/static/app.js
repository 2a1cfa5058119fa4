/* kubesim dashboard: the browser side of the dashboard actor.
 *
 * One page that shows the simulated cluster while it runs: the control-plane processes and the store
 * members, the nodes with their pods, and a side panel (Details, Workloads, Services, Events, Chaos, Apply,
 * Messages, Trace, Logs) for looking inside and for poking at it.
 *
 * Where the data comes from (the contract is actors/dashboard/API.md):
 *  - ONE EventSource on /api/stream: "state" events carry the whole cluster snapshot (on connect and on
 *    every change), "flow" events a sample of the messages the API server's broker routed;
 *  - one-off GETs for an object's details (/api/object), a pod's trace (/api/trace) and log searches;
 *  - JSON POSTs for actions (scale, delete, cordon, apply, chaos, heal);
 *  - the Logs tab's Follow opens its own EventSource on /api/logs/stream.
 * Plain script, no framework, no build step, nothing fetched from elsewhere.
 */
'use strict';

// ---------------------------------------------------------------- helpers

const $ = (id) => document.getElementById(id);

/** h('div', {class: 'x', onclick: f, 'data-testid': 'y'}, child, 'text', [more]) -> an element. */
function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
function svg(tag, attrs, ...children) {
  return build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k === 'className' ? 'class' : k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false && c !== '') el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

function fmtTime(t) {
  const d = new Date(t * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function fmtAge(s) {
  if (s === undefined || s === null) return '';
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(Math.floor(s % 60))}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

const fmtDur = (s) => (s < 1 ? `${(s * 1000).toFixed(1)}ms` : `${s.toFixed(2)}s`);

/** obj as JSON without the fields that change in every snapshot (ages): a key for change detection. */
const withoutAges = (obj) => JSON.stringify(obj, (k, v) => (k === 'age_s' || k === 'since_s' ? undefined : v));

// ---------------------------------------------------------------- page state

const ui = {
  state: null,          // the last snapshot
  skew: 0,              // local clock minus cluster clock, seconds
  tab: 'details',
  selected: null,       // {kind, namespace, name}; kind is a resource (pods, nodes...) or component/store
  drawn: {},            // section -> the data it was last drawn from (JSON), to skip redrawing unchanged parts
  nodeBoxes: new Map(), // node name -> {key, el}: the box drawn for it and the data it was drawn from
  drafts: {},           // deployment "ns-name" -> replicas typed in the Workloads table, not yet sent
  detailsSeq: 0,        // so that an old /api/object answer does not overwrite a newer one
  detailsTimer: 0,
  flow: {recent: [], window: [], sample: 1, paused: false},
  logs: {es: null, lastSeq: 0, searched: false},
};

/** True (and remembered) when `data` differs from what section was last drawn from. */
function changed(section, data) {
  const key = typeof data === 'string' ? data : JSON.stringify(data);
  if (ui.drawn[section] === key) return false;
  ui.drawn[section] = key;
  return true;
}

/**
 * Keeps container's children in step with items, one element per key: new keys get create(item), every
 * element gets update(el, item). Existing elements are reused, so inputs being typed in keep their focus.
 */
function keyedList(container, items, keyOf, create, update, empty) {
  const old = new Map([...container.children].filter((el) => el.dataset.key).map((el) => [el.dataset.key, el]));
  const els = items.map((item) => {
    const el = old.get(keyOf(item)) || create(item);
    el.dataset.key = keyOf(item);
    update(el, item);
    return el;
  });
  if (!els.length && empty) els.push(empty);
  syncChildren(container, els);
}

/** Makes els the children of container, touching the DOM only if they are not already, in that order. */
function syncChildren(container, els) {
  const same = els.length === container.children.length && els.every((el, i) => container.children[i] === el);
  if (!same) container.replaceChildren(...els);
}

/** Replaces an element's children while keeping its (and its pane's) scroll position. */
function replaceKeepingScroll(el, children) {
  const boxes = [el, el.closest('.pane, .cluster')].filter(Boolean);
  const tops = boxes.map((b) => b.scrollTop);
  el.replaceChildren(...children);
  boxes.forEach((b, i) => { b.scrollTop = tops[i]; });
}

// ---------------------------------------------------------------- server calls

async function request(path, options) {
  try {
    const r = await fetch(path, options);
    let j = null;
    try { j = await r.json(); } catch { /* not JSON */ }
    if (!j || typeof j !== 'object') j = {ok: false, error: `HTTP ${r.status} ${r.statusText}`};
    if (!r.ok || j.ok === false) return {...j, ok: false, error: j.error || `HTTP ${r.status} ${r.statusText}`};
    return {...j, ok: true};
  } catch (err) {
    return {ok: false, error: `cannot reach the dashboard: ${err.message}`};
  }
}

const getJSON = (path, params) => request(`${path}?${new URLSearchParams(params)}`);

/** POSTs body as JSON and shows the answer's message or error in the status line. */
async function post(path, body) {
  setStatus(`${path.replace('/api/', '')}…`, 'busy');
  const j = await request(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(body)});
  setStatus(j.ok ? (j.message || 'done') : j.error, j.ok ? 'ok' : 'error');
  return j;
}

function setStatus(text, kind) {
  const el = $('status-line');
  el.textContent = text;
  el.dataset.kind = kind;
  el.title = `at ${new Date().toLocaleTimeString()}`;
  el.classList.remove('flash');
  void el.offsetWidth; // restart the animation
  el.classList.add('flash');
}

// ---------------------------------------------------------------- the live stream

function connectStream() {
  const es = new EventSource('/api/stream');
  es.addEventListener('open', () => setConnection(true));
  es.addEventListener('error', () => {
    setConnection(false);
    // EventSource retries by itself unless the server answered with an error; then start again ourselves.
    if (es.readyState === EventSource.CLOSED) setTimeout(connectStream, 3000);
  });
  es.addEventListener('state', (e) => parsed(e, onState));
  es.addEventListener('flow', (e) => parsed(e, onFlow));
}

function parsed(event, handler) {
  let data;
  try { data = JSON.parse(event.data); } catch (err) { console.warn('bad event data', err); return; }
  handler(data);
}

function setConnection(open) {
  const el = $('connection');
  el.dataset.state = open ? 'open' : 'closed';
  el.textContent = open ? 'connected' : 'reconnecting…';
}

function onState(s) {
  ui.state = s;
  if (s.cluster && s.cluster.now) ui.skew = Date.now() / 1000 - s.cluster.now;
  drawHeader(s);
  drawComponents(s);
  drawStore(s);
  drawNodes(s);
  drawWorkloads(s);
  drawServices(s);
  drawEvents(s);
  drawChaos(s);
  fillTracePods(s);
  followSelection();
  markSelected();
}

// ---------------------------------------------------------------- header

function drawHeader(s) {
  const c = s.cluster || {};
  $('cluster-name').textContent = c.name || 'kubesim';
  document.title = `${c.name || 'kubesim'} · kubesim dashboard`;
  $('time-scale').textContent = `time ×${c.time_scale ?? '?'}`;
  const ok = s.api === 'ok';
  const api = $('api-status');
  api.textContent = ok ? 'API ok' : 'API down';
  api.className = `pill ${ok ? 'good' : 'bad'}`;
  api.title = ok ? 'the API server answers' : s.api;
  const banner = $('stale-banner');
  banner.classList.toggle('hidden', ok);
  banner.textContent = ok ? '' : `The API server does not answer (${s.api}): what you see is the last known picture.`;
}

// ---------------------------------------------------------------- control plane

const STATE_CLASS = {running: 'ok', paused: 'warn', starting: 'warn', stopped: 'bad', backoff: 'bad',
  'no supervisor': 'bad'};

const selKey = (kind, namespace, name) => `${kind}|${namespace || ''}|${name}`;

function drawComponents(s) {
  if (!changed('components', s.components || [])) return;
  $('components').replaceChildren(...(s.components || []).map(componentCard));
}

function componentCard(c) {
  return h('div', {class: `card st-${STATE_CLASS[c.state] || 'unknown'}`, 'data-testid': `component-${c.name}`,
    'data-state': c.state, 'data-select': selKey('component', '', c.name),
    title: `${c.component} · ${c.state}${c.lease ? ` · competes for Lease ${c.lease}` : ''}`,
    onclick: () => select({kind: 'component', namespace: '', name: c.name})},
  h('div', {class: 'card-title'}, h('span', {text: c.name}),
    c.role && h('span', {class: `badge role-${c.role}`, text: c.role})),
  h('div', {class: 'card-sub'}, c.state, c.pid ? ` · pid ${c.pid}` : '',
    c.restarts ? ` · ${c.restarts} restart${c.restarts === 1 ? '' : 's'}` : ''));
}

function drawStore(s) {
  if (!changed('store', s.store || [])) return;
  $('store').replaceChildren(...(s.store || []).map(storeCard));
}

function storeCard(m) {
  const health = m.reachable ? (STATE_CLASS[m.state] || 'unknown') : 'bad';
  return h('div', {class: `card store st-${health}${m.role === 'leader' ? ' leader' : ''}`,
    'data-testid': `store-${m.member}`, 'data-role': m.role, 'data-select': selKey('store', '', m.member),
    title: `store member (Raft): ${m.state}; thinks the leader is ${m.leader || 'unknown'}`,
    onclick: () => select({kind: 'store', namespace: '', name: m.member})},
  h('div', {class: 'card-title'}, h('span', {text: m.member}),
    h('span', {class: `badge role-${m.role || 'none'}`, text: m.role || 'unreachable'})),
  h('div', {class: 'card-sub'}, `term ${m.term ?? '?'} · commit ${m.commit_index ?? '?'}`),
  h('div', {class: 'card-sub'}, m.reachable ? `applied ${m.applied_index ?? '?'} · reachable` : 'not reachable'));
}

// ---------------------------------------------------------------- nodes and pods

/** green / amber / red / grey / faded: the pod colour classes of the legend. */
function podClass(p) {
  const st = p.status || '';
  if (st === 'Terminating') return 'pod-term';
  if (p.phase === 'Failed' || /CrashLoop|Error|Err|BackOff|OOM|Evicted/.test(st)) return 'pod-bad';
  if (p.phase === 'Succeeded' || st === 'Completed') return 'pod-done';
  if (p.phase === 'Running' && p.is_ready) return 'pod-ok';
  return 'pod-warn';
}

function drawNodes(s) {
  const nodes = s.nodes || [];
  const pods = s.pods || [];
  if (!changed('nodes', withoutAges([nodes, pods, s.nodes_total]))) return;
  const byNode = new Map();
  for (const p of pods) {
    if (!byNode.has(p.node)) byNode.set(p.node, []);
    byNode.get(p.node).push(p);
  }
  // a node's box is rebuilt only when the node or its pods changed (hollow clusters have hundreds)
  const boxes = nodes.map((n) => cachedBox(n.name, n, byNode.get(n.name) || [], nodeBox));
  const unscheduled = byNode.get('') || [];
  if (unscheduled.length) boxes.unshift(cachedBox('', null, unscheduled, (_, pods) => unscheduledBox(pods)));
  if (!boxes.length) boxes.push(h('p', {class: 'muted', text: 'No nodes yet.'}));
  const pane = $('cluster-pane');
  const top = pane.scrollTop;
  syncChildren($('nodes'), boxes);
  pane.scrollTop = top;
  for (const name of ui.nodeBoxes.keys()) if (!boxes.includes(ui.nodeBoxes.get(name).el)) ui.nodeBoxes.delete(name);
  const total = s.nodes_total ?? nodes.length;
  $('nodes-count').textContent = total > nodes.length
    ? `showing ${nodes.length} of ${total} nodes` : `${nodes.length} node${nodes.length === 1 ? '' : 's'}`;
}

function cachedBox(name, node, pods, draw) {
  const key = withoutAges([node, pods]);
  const cached = ui.nodeBoxes.get(name);
  if (cached && cached.key === key) return cached.el;
  const el = draw(node, pods);
  if (cached && cached.el.isConnected) cached.el.replaceWith(el);
  ui.nodeBoxes.set(name, {key, el});
  return el;
}

function nodeBox(n, pods) {
  const status = n.status || 'Unknown';
  const ready = status.split(',')[0] === 'Ready';
  const cordoned = status.includes('SchedulingDisabled');
  const sel = () => select({kind: 'nodes', namespace: '', name: n.name});
  return h('div', {class: `node ${ready ? 'node-ok' : 'node-bad'}${cordoned ? ' node-cordoned' : ''}`,
    'data-testid': `node-${n.name}`, 'data-status': status, 'data-select': selKey('nodes', '', n.name),
    onclick: sel},
  h('div', {class: 'node-head', title: 'click to see the node'},
    h('strong', {text: n.name}),
    h('span', {class: 'node-status', text: status}),
    h('span', {class: 'muted', text: [n.zone, n.internal_ip].filter(Boolean).join(' · ')}),
    h('span', {class: 'muted', text: `${n.pods_total ?? pods.length} pod${(n.pods_total ?? pods.length) === 1 ? '' : 's'}`}),
    n.taints && n.taints.length ? h('span', {class: 'taints', text: `taints: ${n.taints.join(', ')}`}) : null),
  h('div', {class: 'chips'}, pods.map(podChip)));
}

function unscheduledBox(pods) {
  return h('div', {class: 'node node-unscheduled', 'data-testid': 'unscheduled-pods'},
    h('div', {class: 'node-head'}, h('strong', {text: 'Unscheduled'}),
      h('span', {class: 'muted', text: 'pods the scheduler has not bound to a node yet'})),
    h('div', {class: 'chips'}, pods.map(podChip)));
}

function podChip(p) {
  return h('span', {class: `chip ${podClass(p)}`, 'data-testid': `pod-${p.namespace}-${p.name}`,
    'data-phase': p.phase, 'data-status': p.status, 'data-ready': String(Boolean(p.is_ready)),
    'data-select': selKey('pods', p.namespace, p.name),
    title: `${p.namespace}/${p.name}\n${p.status} · ready ${p.ready} · restarts ${p.restarts}\nIP ${p.ip || '-'} · ${p.owner || 'no owner'}`,
    onclick: (e) => { e.stopPropagation(); select({kind: 'pods', namespace: p.namespace, name: p.name}); }},
  p.name, p.restarts ? h('span', {class: 'restarts', text: ` ↻${p.restarts}`}) : null);
}

// ---------------------------------------------------------------- selection and details

function select(sel) {
  ui.selected = sel;
  markSelected();
  showTab('details');
  const obj = selectedInState();
  ui.drawn.selected = withoutAges(obj ?? null);
  drawDetailsHead(obj);
  drawDetailsActions(obj);
  $('details-body').replaceChildren(h('p', {class: 'muted', text: 'loading…'}));
  fetchDetails();
}

function markSelected() {
  const key = ui.selected ? selKey(ui.selected.kind, ui.selected.namespace, ui.selected.name) : '';
  for (const el of document.querySelectorAll('.selected')) {
    if (el.dataset.select !== key) el.classList.remove('selected');
  }
  if (key) for (const el of document.querySelectorAll(`[data-select="${CSS.escape(key)}"]`)) el.classList.add('selected');
}

/** The selected object's line in the state snapshot, or undefined. */
function selectedInState() {
  const s = ui.state;
  const sel = ui.selected;
  if (!s || !sel) return undefined;
  const same = (o) => o.name === sel.name && (o.namespace || '') === (sel.namespace || '');
  const lists = {pods: s.pods, nodes: s.nodes, deployments: s.deployments, services: s.services,
    component: s.components, store: (s.store || []).map((m) => ({...m, name: m.member}))};
  return (lists[sel.kind] || []).find(same);
}

/** On a new snapshot: redraws the details summary, and fetches the details again when the object changed. */
function followSelection() {
  if (!ui.selected) return;
  const obj = selectedInState();
  drawDetailsHead(obj);
  if (!changed('selected', withoutAges(obj ?? null))) return;
  drawDetailsActions(obj);
  clearTimeout(ui.detailsTimer);
  ui.detailsTimer = setTimeout(fetchDetails, 700);
}

const KIND_TITLES = {pods: 'Pod', nodes: 'Node', deployments: 'Deployment', services: 'Service',
  replicasets: 'ReplicaSet', component: 'Process', store: 'Store member'};

function drawDetailsHead(obj) {
  const sel = ui.selected;
  const title = `${KIND_TITLES[sel.kind] || sel.kind} ${sel.namespace ? `${sel.namespace}/` : ''}${sel.name}`;
  const facts = obj ? Object.entries(obj).filter(([k]) => !['name', 'namespace', 'member'].includes(k)) : [];
  $('details-head').replaceChildren(
    h('h3', {class: 'details-title', text: title}),
    obj ? h('dl', {class: 'facts'}, facts.map(([k, v]) => [h('dt', {text: k.replace(/_/g, ' ')}), h('dd', {text: factText(k, v)})]))
      : h('p', {class: 'muted', text: 'Not in the current cluster state (deleted, or not listed).'}));
}

function factText(k, v) {
  if (Array.isArray(v)) {
    if (k === 'endpoints') return v.map((e) => `${e.ip}${e.ready ? '' : ' (not ready)'}`).join(', ') || 'none';
    return v.join(', ') || 'none';
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v === '' || v === null || v === undefined) return '-';
  return k.endsWith('_s') ? fmtAge(v) : String(v);
}

/** The action buttons; built when the selection changes, so a replicas input being typed in survives. */
function drawDetailsActions(obj) {
  const sel = ui.selected;
  const box = $('details-actions');
  if (box.dataset.for === selKey(sel.kind, sel.namespace, sel.name)) {
    if (sel.kind === 'nodes' && obj) {  // show which of Cordon/Uncordon applies now
      box.querySelector('[data-testid=action-cordon]').classList.toggle('primary', !obj.unschedulable);
      box.querySelector('[data-testid=action-uncordon]').classList.toggle('primary', Boolean(obj.unschedulable));
    }
    return;
  }
  box.dataset.for = selKey(sel.kind, sel.namespace, sel.name);
  const {namespace, name} = sel;
  const buttons = [];
  if (sel.kind === 'pods') {
    buttons.push(h('button', {class: 'danger', 'data-testid': 'action-delete', text: 'Delete',
      onclick: () => post('/api/delete', {kind: 'pods', namespace, name})}));
    buttons.push(h('button', {text: 'Trace', onclick: () => traceOf(namespace, name)}));
    buttons.push(h('button', {text: 'Logs', onclick: () => logsOf({namespace, pod: name})}));
  } else if (sel.kind === 'nodes') {
    const cordon = (flag) => post('/api/cordon', {name, unschedulable: flag});
    buttons.push(h('button', {'data-testid': 'action-cordon', text: 'Cordon', onclick: () => cordon(true)}));
    buttons.push(h('button', {'data-testid': 'action-uncordon', text: 'Uncordon', onclick: () => cordon(false)}));
  } else if (sel.kind === 'deployments') {
    const current = (ui.state.deployments || []).find((d) => d.namespace === namespace && d.name === name);
    const input = h('input', {type: 'number', min: 0, class: 'replicas', 'data-testid': 'details-replicas',
      value: current ? current.replicas : 1, onkeydown: (e) => { if (e.key === 'Enter') scale(namespace, name, input.value); }});
    buttons.push(h('label', {}, 'replicas ', input),
      h('button', {class: 'primary', 'data-testid': 'action-scale', text: 'Scale', onclick: () => scale(namespace, name, input.value)}));
  } else if (sel.kind === 'component' || sel.kind === 'store') {
    const comp = sel.kind === 'component' ? (selectedInState() || {}).component || name : 'store';
    buttons.push(h('button', {text: 'Logs', onclick: () => logsOf({component: comp})}));
    buttons.push(h('button', {text: 'Chaos…', onclick: () => { $('chaos-target').value = name; showTab('chaos'); }}));
  }
  buttons.push(h('button', {text: 'Refresh', title: 'fetch the details again', onclick: fetchDetails}));
  box.replaceChildren(...buttons);
}

/** GET /api/object for the selection (for a leader-elected process: its Lease) and draws it. */
async function fetchDetails() {
  const sel = ui.selected;
  if (!sel) return;
  const seq = ++ui.detailsSeq;
  let query = {kind: sel.kind, namespace: sel.namespace || '', name: sel.name};
  if (sel.kind === 'component' || sel.kind === 'store') {
    const lease = sel.kind === 'component' && (selectedInState() || {}).lease;
    if (!lease) {
      $('details-body').replaceChildren(h('p', {class: 'muted', text: sel.kind === 'store'
        ? 'A store member keeps a copy of the cluster data; members elect a leader (Raft) that orders every write.'
        : 'A process of the cluster. Use Logs to see what it says, Chaos to break it.'}));
      return;
    }
    query = {kind: 'leases', namespace: 'kube-system', name: lease};
  }
  const j = await getJSON('/api/object', query);
  if (seq !== ui.detailsSeq) return;
  drawDetailsBody(j, query);
}

function drawDetailsBody(j, query) {
  const body = $('details-body');
  if (!j.ok) {
    replaceKeepingScroll(body, [h('p', {class: 'error', text: `Could not fetch ${query.kind}/${query.name}: ${j.error}`})]);
    return;
  }
  const conditions = j.conditions || [];
  const parts = [];
  if (query.kind === 'leases') parts.push(h('p', {class: 'muted', text: `The Lease kube-system/${query.name} this process competes for: its holder is the leader.`}));
  if (conditions.length) {
    parts.push(h('h4', {text: 'Conditions'}), table(['Type', 'Status', 'Reason', 'Message', 'Since'],
      conditions.map((c) => h('tr', {class: c.status === 'True' ? '' : 'cond-false'},
        [c.type, c.status, c.reason, c.message, c.last_transition].map((v) => h('td', {text: v || ''}))))));
  }
  parts.push(h('h4', {text: 'Events'}), eventsTable(j.events || []));
  parts.push(h('h4', {text: 'YAML'}), h('pre', {class: 'yaml', text: j.yaml || ''}));
  replaceKeepingScroll(body, parts);
}

function table(headers, rows) {
  return h('table', {class: 'grid'}, h('thead', {}, h('tr', {}, headers.map((t) => h('th', {text: t})))),
    h('tbody', {}, rows));
}

// ---------------------------------------------------------------- actions

async function scale(namespace, name, value, draftKey) {
  const replicas = Number(value);
  if (String(value).trim() === '' || !Number.isInteger(replicas) || replicas < 0) {
    setStatus(`replicas must be a whole number, 0 or more (got "${value}")`, 'error');
    return;
  }
  const j = await post('/api/scale', {kind: 'deployments', namespace, name, replicas});
  if (j.ok && draftKey) delete ui.drafts[draftKey];
}

function traceOf(namespace, name) {
  const value = `${namespace}/${name}`;
  fillTracePods(ui.state || {}, value);
  $('trace-pod').value = value;
  showTab('trace');
  runTrace();
}

function logsOf(filters) {
  const form = $('log-form');
  for (const input of form.querySelectorAll('input[name], select[name]')) input.value = filters[input.name] || '';
  showTab('logs');
  searchLogs();
}

// ---------------------------------------------------------------- workloads, services, events

function drawWorkloads(s) {
  const deps = s.deployments || [];
  if (!changed('workloads', deps)) return;
  keyedList($('workloads'), deps, (d) => `${d.namespace}-${d.name}`, workloadRow, updateWorkloadRow,
    h('tr', {}, h('td', {colspan: 5, class: 'muted', text: 'No deployments. Create one in the Apply tab.'})));
}

function workloadRow(d) {
  const id = `${d.namespace}-${d.name}`;
  const input = h('input', {type: 'number', min: 0, class: 'replicas', 'data-testid': `scale-input-${id}`,
    value: d.replicas, oninput: () => { ui.drafts[id] = input.value; },
    onkeydown: (e) => { if (e.key === 'Enter') scale(d.namespace, d.name, input.value, id); }});
  return h('tr', {},
    h('td', {}, h('a', {href: '#', class: 'link', 'data-select': selKey('deployments', d.namespace, d.name),
      text: `${d.namespace}/${d.name}`,
      onclick: (e) => { e.preventDefault(); select({kind: 'deployments', namespace: d.namespace, name: d.name}); }})),
    h('td', {class: 'c-ready'}), h('td', {class: 'c-updated'}), h('td', {class: 'c-available'}),
    h('td', {class: 'nowrap'}, input, h('button', {'data-testid': `scale-button-${id}`, text: 'Scale',
      onclick: () => scale(d.namespace, d.name, input.value, id)})));
}

function updateWorkloadRow(row, d) {
  row.querySelector('.c-ready').textContent = `${d.ready}/${d.replicas}`;
  row.querySelector('.c-updated').textContent = d.updated;
  row.querySelector('.c-available').textContent = d.available;
  row.classList.toggle('degraded', d.ready < d.replicas);
  const input = row.querySelector('input');
  if (document.activeElement !== input && ui.drafts[row.dataset.key] === undefined) input.value = d.replicas;
}

function drawServices(s) {
  const svcs = s.services || [];
  if (!changed('services', svcs)) return;
  replaceKeepingScroll($('services'), svcs.length ? svcs.map(serviceBlock)
    : [h('p', {class: 'muted', text: 'No services.'})]);
}

function serviceBlock(svc) {
  const eps = svc.endpoints || [];
  return h('div', {class: 'svc', 'data-testid': `service-${svc.namespace}-${svc.name}`},
    h('div', {class: 'svc-head'},
      h('a', {href: '#', class: 'link', text: `${svc.namespace}/${svc.name}`,
        'data-select': selKey('services', svc.namespace, svc.name),
        onclick: (e) => { e.preventDefault(); select({kind: 'services', namespace: svc.namespace, name: svc.name}); }}),
      h('span', {class: 'badge', text: svc.type}),
      h('code', {text: svc.cluster_ip || 'None'}),
      svc.external_ip && h('code', {text: `ext ${svc.external_ip}`}),
      h('span', {class: 'muted', text: (svc.ports || []).join(', ')})),
    eps.length ? h('ul', {class: 'endpoints'}, eps.map((ep) => h('li', {class: ep.ready ? '' : 'ep-notready',
      title: ep.ready ? 'ready: receives traffic' : 'not ready: gets no traffic'},
    h('code', {text: ep.ip}), ' → ',
    ep.pod ? h('a', {href: '#', class: 'link', text: ep.pod, onclick: (e) => {
      e.preventDefault(); select({kind: 'pods', namespace: svc.namespace, name: ep.pod});
    }}) : '?',
    ep.node ? h('span', {class: 'muted', text: ` on ${ep.node}`}) : null,
    ep.ready ? null : h('span', {class: 'muted', text: ' (not ready)'}))))
      : h('p', {class: 'muted small', text: 'no endpoints: no ready pod matches the selector'}));
}

const KIND_RESOURCES = {Pod: 'pods', Node: 'nodes', Deployment: 'deployments', ReplicaSet: 'replicasets',
  Service: 'services', StatefulSet: 'statefulsets', Job: 'jobs', ConfigMap: 'configmaps'};

function drawEvents(s) {
  if (!changed('events', s.events || [])) return;
  replaceKeepingScroll($('events'), [eventsTable(s.events || [])]);
}

function eventsTable(events) {
  if (!events.length) return h('p', {class: 'muted', text: 'No events.'});
  return table(['Age', 'Type', 'Reason', 'Object', 'Message', '#'], events.map((ev) => {
    const [kind, name] = (ev.object || '').split('/');
    const resource = KIND_RESOURCES[kind];
    const ns = resource === 'nodes' ? '' : ev.namespace;
    return h('tr', {class: ev.type === 'Warning' ? 'warning' : ''},
      h('td', {class: 'nowrap', text: fmtAge(ev.age_s)}), h('td', {text: ev.type}), h('td', {text: ev.reason}),
      h('td', {}, resource && name ? h('a', {href: '#', class: 'link', text: ev.object,
        onclick: (e) => { e.preventDefault(); select({kind: resource, namespace: ns, name}); }}) : ev.object),
      h('td', {text: ev.message}), h('td', {text: ev.count}));
  }));
}

// ---------------------------------------------------------------- chaos and apply

const CHAOS_HELP = {kill: 'kill -9, kept down until healed', pause: 'SIGSTOP until healed',
  restart: 'kill -9; its supervisor starts it again', partition: 'cut it off the network until healed'};

function drawChaos(s) {
  const targets = s.chaos_targets || [];
  if (changed('chaos-targets', targets)) {
    const sel = $('chaos-target');
    const current = sel.value;
    sel.replaceChildren(...targets.map((t) => h('option', {value: t.name, text: `${t.name} (${t.component})`})));
    if (targets.some((t) => t.name === current)) sel.value = current;
  }
  if (changed('chaos-actions', s.chaos_actions || [])) {
    $('chaos-actions').replaceChildren(...(s.chaos_actions || []).map((a) => h('button', {class: 'danger',
      'data-testid': `chaos-${a}`, text: a, title: CHAOS_HELP[a] || a, onclick: () => runChaos(a)})));
  }
  keyedList($('faults'), s.faults || [], (f) => f.id, faultRow, (row, f) => {
    row.querySelector('.since').textContent = `for ${fmtAge(f.since_s)}`;
  }, h('p', {class: 'muted', text: 'None: the cluster is whole.'}));
}

function faultRow(f) {
  return h('div', {class: 'fault', 'data-testid': `fault-${f.id}`},
    h('strong', {text: f.action}), h('span', {text: (f.targets || []).join(', ')}),
    h('span', {class: 'muted grow', text: f.detail}), h('span', {class: 'since muted'}),
    h('button', {'data-testid': `heal-${f.id}`, text: 'Heal', onclick: () => post('/api/heal', {id: f.id})}));
}

function runChaos(action) {
  const target = $('chaos-target').value;
  if (!target) { setStatus('choose a target first', 'error'); return; }
  post('/api/chaos', {action, target});
}

async function applyManifest() {
  const manifest = $('apply-text').value;
  if (!manifest.trim()) { setStatus('nothing to apply: paste a YAML manifest first', 'error'); return; }
  const j = await post('/api/apply', {manifest});
  const lines = j.ok ? (j.results && j.results.length ? j.results : [j.message || 'applied']) : [j.error];
  const stamp = new Date().toLocaleTimeString();
  $('apply-results').prepend(...lines.map((text) => h('li', {class: j.ok ? 'ok' : 'error'},
    h('span', {class: 'muted', text: `${stamp} `}), text)));
}

// ---------------------------------------------------------------- message flow

const FLOW_WINDOW_S = 30;

function onFlow(f) {
  const fl = ui.flow;
  fl.sample = f.sample || 1;
  for (const m of f.messages || []) { fl.recent.push(m); fl.window.push(m); }
  if (fl.recent.length > 200) fl.recent.splice(0, fl.recent.length - 200);
  const cutoff = Date.now() / 1000 - ui.skew - FLOW_WINDOW_S;
  fl.window = fl.window.filter((m) => m[0] >= cutoff).slice(-50000);
  if (!fl.paused && ui.tab === 'messages') drawFlow();
}

function drawFlow() {
  const fl = ui.flow;
  $('flow-sample').textContent = `1 in ${fl.sample} sampled${fl.paused ? ' · paused' : ''}`;
  const counts = new Map();
  for (const [, from, to] of fl.window) {
    const key = `${from}\u0000${to}`;
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([key, n]) => {
    const [from, to] = key.split('\u0000');
    return h('tr', {}, h('td', {text: from}), h('td', {class: 'arrow', text: '→'}), h('td', {text: to}), h('td', {text: n}),
      h('td', {text: (n * fl.sample / FLOW_WINDOW_S).toFixed(1)}));
  });
  $('flow-counts').replaceChildren(...(rows.length ? rows
    : [h('tr', {}, h('td', {colspan: 5, class: 'muted', text: 'no messages in the last 30 s'}))]));
  const list = $('flow-list');
  const top = list.scrollTop;
  list.replaceChildren(...fl.recent.slice().reverse().map(([t, from, to, kind]) => h('div', {class: 'flow-row'},
    h('span', {class: 'muted', text: fmtTime(t)}), h('span', {class: 'proc', text: from}), h('span', {text: '→'}),
    h('span', {class: 'proc', text: to}), h('span', {class: 'kind', text: kind}))));
  list.scrollTop = top;
}

function toggleFlowPause() {
  const fl = ui.flow;
  fl.paused = !fl.paused;
  $('flow-pause').textContent = fl.paused ? 'Resume' : 'Pause';
  $('flow-pause').classList.toggle('primary', fl.paused);
  drawFlow();
}

// ---------------------------------------------------------------- trace

function fillTracePods(s, extra) {
  if (ui.tab !== 'trace' && !extra) return;  // filled when the Trace tab is shown
  const sel = $('trace-pod');
  const current = extra || sel.value;
  const values = (s.pods || []).map((p) => `${p.namespace}/${p.name}`);
  if (current && !values.includes(current)) values.unshift(current);  // a deleted pod can still be traced
  if (!changed('trace-pods', values)) return;
  sel.replaceChildren(...values.map((v) => h('option', {value: v, text: v})));
  if (current) sel.value = current;
}

async function runTrace() {
  const value = $('trace-pod').value;
  if (!value) { $('trace-info').textContent = 'Choose a pod first.'; return; }
  const [namespace, name] = [value.slice(0, value.indexOf('/')), value.slice(value.indexOf('/') + 1)];
  $('trace-info').textContent = `tracing ${value}…`;
  const j = await getJSON('/api/trace', {namespace, name});
  if (!j.ok) {
    $('trace-info').replaceChildren(h('span', {class: 'error', text: j.error}));
    $('trace-wrap').replaceChildren();
    return;
  }
  drawTrace(j);
}

/** The calls to draw: one per span, except a server span whose client side is also there (the same call). */
function traceCalls(spans) {
  const clients = spans.filter((s) => s.side === 'client');
  const used = new Set();
  const seenFromClient = new Set();
  for (const s of spans) {
    if (s.side !== 'server') continue;
    let best = null;
    for (const c of clients) {
      if (used.has(c) || c.trace_id !== s.trace_id || c.process !== s.peer || c.kind !== s.kind) continue;
      if (!best || Math.abs(c.start - s.start) < Math.abs(best.start - s.start)) best = c;
    }
    if (best) { used.add(best); seenFromClient.add(s); }
  }
  return spans.filter((s) => !seenFromClient.has(s)).map((s) => (s.side === 'server'
    ? {from: s.peer || '?', to: s.process, span: s} : {from: s.process, to: s.peer || '?', span: s}));
}

function drawTrace(j) {
  const spans = (j.spans || []).slice().sort((a, b) => a.start - b.start);
  const calls = traceCalls(spans);
  const traces = [...new Set(spans.map((s) => s.trace_id))];
  const silent = j.silent || [];
  $('trace-info').replaceChildren(
    h('div', {text: `${j.object || ''}: ${spans.length} spans in ${traces.length} trace${traces.length === 1 ? '' : 's'}, ${calls.length} calls drawn.`}),
    silent.length ? h('div', {class: 'warning', text: `No answer from ${silent.join(', ')}: their steps are missing.`}) : null);
  if (!calls.length) {
    $('trace-wrap').replaceChildren(h('p', {class: 'muted', text: 'No spans: no process remembers a request for this pod.'}));
    return;
  }
  $('trace-wrap').replaceChildren(sequenceDiagram(calls, traces));
}

/** An SVG sequence diagram: a lifeline per process (first appearance order), an arrow per call. */
function sequenceDiagram(calls, traces) {
  const lanes = [];
  for (const c of calls) for (const p of [c.from, c.to]) if (!lanes.includes(p)) lanes.push(p);
  const LEFT = 78; const TOP = 44; const ROW = 34;
  const room = $('trace-wrap').clientWidth || 600;  // fit the pane when there is room, scroll when not
  const LANE = Math.max(120, Math.min(180, Math.floor((room - LEFT - 12) / lanes.length)));
  const width = LEFT + lanes.length * LANE + 10 + (calls.some((c) => c.from === c.to) ? 160 : 0);  // room for self-call labels
  const height = TOP + calls.length * ROW + 16;
  const x = (p) => LEFT + lanes.indexOf(p) * LANE + LANE / 2;
  const t0 = calls[0].span.start;
  const shades = ['#f3f6fb', '#fbf7ef', '#f1f8f2', '#f8f1f7', '#f0f6f8'];
  const marker = (id, color) => svg('marker', {id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: 'auto-start-reverse'}, svg('path', {d: 'M0,0 L10,5 L0,10 z', fill: color}));
  const parts = [svg('defs', {}, marker('arr-ok', '#33415c'), marker('arr-bad', '#c62828'))];
  calls.forEach((c, i) => {  // a band per trace, to see which calls belong together
    const y = TOP + i * ROW;
    parts.push(svg('rect', {x: 0, y, width, height: ROW, fill: shades[traces.indexOf(c.span.trace_id) % shades.length]}));
  });
  lanes.forEach((p) => {
    parts.push(svg('line', {x1: x(p), y1: TOP - 8, x2: x(p), y2: height - 4, class: 'lifeline'}));
    parts.push(svg('rect', {x: x(p) - LANE / 2 + 8, y: 6, width: LANE - 16, height: 24, rx: 5, class: 'lane-head'}));
    parts.push(svg('text', {x: x(p), y: 22, 'text-anchor': 'middle', class: 'lane-name'}, short(p, Math.floor(LANE / 8))));
  });
  calls.forEach((c, i) => parts.push(callArrow(c, TOP + i * ROW + ROW / 2 + 6, x, t0, LANE)));
  return svg('svg', {'data-testid': 'trace-diagram', class: 'trace', width, height,
    viewBox: `0 0 ${width} ${height}`, role: 'img'}, parts);
}

function callArrow(c, y, x, t0, LANE) {
  const s = c.span;
  const bad = s.outcome && s.outcome !== 'ok';
  const label = `${short(s.note || s.kind, 34)}  ${fmtDur(s.duration_s || 0)}${bad ? ` (${s.outcome})` : ''}`;
  const x1 = x(c.from); const x2 = x(c.to);
  const cls = `call${bad ? ' bad' : ''}`;
  const arrow = x1 === x2
    ? svg('path', {d: `M${x1},${y - 6} h30 v12 h-28`, class: cls, 'marker-end': `url(#arr-${bad ? 'bad' : 'ok'})`})
    : svg('line', {x1, y1: y, x2: x2 + (x2 > x1 ? -2 : 2), y2: y, class: cls, 'marker-end': `url(#arr-${bad ? 'bad' : 'ok'})`});
  const mid = x1 === x2 ? x1 + 36 : (x1 + x2) / 2;
  return svg('g', {},
    svg('title', {}, `${s.process} (${s.actor}) ${s.side === 'client' ? '→' : '←'} ${s.peer}\n${s.kind}: ${s.note || ''}\n${s.obj || ''}\ntrace ${s.trace_id} · took ${fmtDur(s.duration_s || 0)} · ${s.outcome}`),
    svg('text', {x: 6, y: y + 4, class: 'reltime'}, `+${fmtDur(s.start - t0)}`),
    arrow,
    svg('text', {x: mid, y: y - 6, 'text-anchor': x1 === x2 ? 'start' : 'middle', class: `call-label${bad ? ' bad' : ''}`}, label));
}

const short = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

// ---------------------------------------------------------------- logs

function logFilters() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($('log-form'))) if (String(v).trim()) params.set(k, String(v).trim());
  return params;
}

async function searchLogs() {
  stopFollow();
  const params = logFilters();
  params.set('limit', '500');
  $('log-info').textContent = 'searching…';
  const j = await request(`/api/logs?${params}`);
  if (!j.ok) {
    $('log-info').replaceChildren(h('span', {class: 'error', text: j.error}));
    return;
  }
  const entries = j.entries || [];
  ui.logs.lastSeq = j.last_seq ?? Math.max(0, ...entries.map((e) => e.seq));
  ui.logs.searched = true;
  $('log-info').textContent = `${entries.length} line${entries.length === 1 ? '' : 's'}${entries.length >= 500 ? ' (the newest 500)' : ''}`;
  const box = $('log-lines');
  box.replaceChildren(...entries.map(logLine));
  box.scrollTop = box.scrollHeight;
  if ($('log-follow').checked) startFollow();
}

function startFollow() {
  stopFollow();
  const params = logFilters();
  params.set('after', String(ui.logs.lastSeq));
  const es = new EventSource(`/api/logs/stream?${params}`);
  ui.logs.es = es;
  es.addEventListener('open', () => { $('log-info').textContent = 'following…'; });
  es.addEventListener('logs', (e) => parsed(e, (d) => {
    appendLogs((d.entries || []).filter((x) => !(x.seq <= ui.logs.lastSeq)));
    ui.logs.lastSeq = Math.max(ui.logs.lastSeq, d.last_seq ?? 0);
  }));
  es.addEventListener('refused', (e) => parsed(e, (d) => {
    // the collector will never answer this query (say, a pod whose containers must be named): stop here
    stopFollow();
    $('log-follow').checked = false;
    $('log-info').textContent = `not followed: ${d.error}`;
  }));
  es.addEventListener('error', () => {
    if (ui.logs.es !== es) return;
    $('log-info').textContent = 'log stream interrupted, reconnecting…';
    // a retry would reuse the old "after": open a fresh stream from where we are instead
    if (ui.logs.es === es) { es.close(); setTimeout(() => { if (ui.logs.es === es) startFollow(); }, 2000); }
  });
}

function stopFollow() {
  if (ui.logs.es) ui.logs.es.close();
  ui.logs.es = null;
}

function appendLogs(entries) {
  if (!entries.length) return;
  const box = $('log-lines');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
  box.append(...entries.map(logLine));
  while (box.children.length > 2000) box.firstChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function logLine(e) {
  const level = e.level || e.stream || '';
  return h('div', {class: `log lvl-${level}`},
    h('span', {class: 't', text: fmtTime(e.t)}), h('span', {class: 'lvl', text: level}),
    h('span', {class: 'proc', text: e.process}), h('span', {class: 'src', text: e.source}),
    e.trace_id ? h('a', {href: '#', class: 'trace-id', text: e.trace_id.slice(0, 8), title: `trace ${e.trace_id}: show its lines`,
      onclick: (ev) => { ev.preventDefault(); $('log-form').elements.trace.value = e.trace_id; searchLogs(); }}) : null,
    h('span', {class: 'msg', text: e.message}));
}

function onFollowToggle() {
  if (!$('log-follow').checked) { stopFollow(); $('log-info').textContent = 'stopped following'; return; }
  if (ui.logs.searched) startFollow(); else searchLogs();
}

// ---------------------------------------------------------------- tabs and start

const TABS = ['details', 'workloads', 'services', 'events', 'chaos', 'apply', 'messages', 'trace', 'logs'];

function showTab(name) {
  if (!TABS.includes(name)) return;
  ui.tab = name;
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const t of TABS) $(`pane-${t}`).classList.toggle('hidden', t !== name);
  history.replaceState(null, '', `#${name}`);
  if (name === 'messages') drawFlow();
  if (name === 'trace' && ui.state) fillTracePods(ui.state);
}

function start() {
  $('tabs').addEventListener('click', (e) => { if (e.target.dataset.tab) showTab(e.target.dataset.tab); });
  $('heal-all').addEventListener('click', () => post('/api/heal', {}));
  $('apply-button').addEventListener('click', applyManifest);
  $('flow-pause').addEventListener('click', toggleFlowPause);
  $('trace-button').addEventListener('click', runTrace);
  $('log-form').addEventListener('submit', (e) => { e.preventDefault(); searchLogs(); });
  $('log-follow').addEventListener('change', onFollowToggle);
  showTab(location.hash.slice(1) || 'details');
  connectStream();
}

start();
