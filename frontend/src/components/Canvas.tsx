import {
  Background,
  Controls,
  getBezierPath,
  MiniMap,
  ReactFlow,
  useReactFlow,
  useStore as useFlowStore,
  type ConnectionLineComponentProps,
  type Edge,
  type IsValidConnection,
  type Node,
  type OnConnectEnd,
  type ReactFlowInstance,
} from '@xyflow/react';
import { useCallback, useEffect, useRef, type DragEvent } from 'react';
import { checkConnection, previewEndpoint, type FlowNode } from '../store/graph';
import { useStudio } from '../store/store';
import { SpecNode } from './SpecNode';

/** Node components, at module scope so that xyflow never remounts them. */
const nodeTypes = { spec: SpecNode };

/** Below this zoom, node text other than the type is hidden; below TINY_ZOOM (text a few pixels
 * high) nodes are plain boxes. */
const FAR_ZOOM = 0.45;
const TINY_ZOOM = 0.22;

/** The MIME type a palette item carries when dragged onto the canvas. */
export const DRAG_TYPE = 'application/x-atoll-node';

function ConnectionLine({ fromX, fromY, toX, toY, fromPosition, toPosition, connectionStatus, fromNode, fromHandle, toNode, toHandle }: ConnectionLineComponentProps) {
  const [path] = getBezierPath({ sourceX: fromX, sourceY: fromY, sourcePosition: fromPosition, targetX: toX, targetY: toY, targetPosition: toPosition });
  let reason = '';
  if (connectionStatus === 'invalid' && toNode && toHandle) {
    const s = useStudio.getState();
    const c =
      fromHandle.type === 'source'
        ? { source: fromNode.id, sourceHandle: fromHandle.id ?? null, target: toNode.id, targetHandle: toHandle.id ?? null }
        : { source: toNode.id, sourceHandle: toHandle.id ?? null, target: fromNode.id, targetHandle: fromHandle.id ?? null };
    const chk = checkConnection(s.specs, s.nodes, s.edges, c);
    reason = chk.ok ? '' : chk.reason;
  }
  const color = connectionStatus === 'invalid' ? '#e5484d' : connectionStatus === 'valid' ? '#30a46c' : '#8b8d98';
  return (
    <g>
      <path d={path} fill="none" stroke={color} strokeWidth={2} strokeDasharray={connectionStatus === 'invalid' ? '5 4' : undefined} />
      {reason && (
        <foreignObject x={toX + 12} y={toY - 34} width={300} height={60} style={{ overflow: 'visible' }}>
          <div className="connect-reason" data-testid="connect-reason">
            {reason}
          </div>
        </foreignObject>
      )}
    </g>
  );
}

/** The canvas instance: for the palette (double-click adds at the centre) and the browser benchmarks. */
export let flowInstance: ReactFlowInstance<FlowNode> | null = null;
function exposeFlow(inst: ReactFlowInstance<FlowNode>) {
  flowInstance = inst;
  (window as unknown as { __atollFlow: unknown }).__atollFlow = inst;
}

/** The graph canvas: drop from the palette, connect typed ports, select and preview. */
export function Canvas() {
  const nodes = useStudio((s) => s.nodes);
  const edges = useStudio((s) => s.edges);
  const graphID = useStudio((s) => s.info?.id);
  const onNodesChange = useStudio((s) => s.onNodesChange);
  const onEdgesChange = useStudio((s) => s.onEdgesChange);
  const connect = useStudio((s) => s.connect);
  const { screenToFlowPosition, fitView, setViewport } = useReactFlow();
  // Zoomed out, nodes drop their small text (CSS only: no node re-renders). Zoomed in, only the
  // nodes and edges on screen are drawn; zoomed out that costs more than it saves while panning.
  const far = useFlowStore((s) => s.transform[2] < FAR_ZOOM);
  const tiny = useFlowStore((s) => s.transform[2] < TINY_ZOOM);

  // A graph opens fitted to the view; an empty one at 100 %. (xyflow defers fitView until the
  // nodes are measured, so it is only asked for when there are nodes.)
  useEffect(() => {
    if (!graphID) return;
    if (useStudio.getState().nodes.length) void fitView({ padding: 0.2, maxZoom: 1.2, duration: 0 });
    else void setViewport({ x: 0, y: 0, zoom: 1 });
  }, [graphID, fitView, setViewport]);

  const isValidConnection: IsValidConnection = useCallback((c) => {
    const s = useStudio.getState();
    return checkConnection(s.specs, s.nodes, s.edges, c).ok;
  }, []);

  const onConnectEnd: OnConnectEnd = useCallback((_e, st) => {
    if (st.isValid === false && st.fromNode && st.toNode && st.fromHandle && st.toHandle) {
      const s = useStudio.getState();
      const c =
        st.fromHandle.type === 'source'
          ? { source: st.fromNode.id, sourceHandle: st.fromHandle.id ?? null, target: st.toNode.id, targetHandle: st.toHandle.id ?? null }
          : { source: st.toNode.id, sourceHandle: st.toHandle.id ?? null, target: st.fromNode.id, targetHandle: st.fromHandle.id ?? null };
      const chk = checkConnection(s.specs, s.nodes, s.edges, c);
      if (!chk.ok) s.toast(`cannot connect: ${chk.reason}`, 'error');
    }
  }, []);

  const onDragOver = useCallback((e: DragEvent) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
  }, []);

  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const type = e.dataTransfer.getData(DRAG_TYPE) || e.dataTransfer.getData('text/plain');
      if (!type) return;
      const p = screenToFlowPosition({ x: e.clientX, y: e.clientY });
      useStudio.getState().addNode(type, { x: p.x - 80, y: p.y - 20 });
    },
    [screenToFlowPosition],
  );

  const onNodeClick = useCallback((_e: unknown, n: Node) => {
    const s = useStudio.getState();
    s.setPreview(previewEndpoint(s.specs, s.nodes, s.edges, n.id));
  }, []);

  const onEdgeClick = useCallback((_e: unknown, e: Edge) => {
    useStudio.getState().setPreview({ node: e.source, port: e.sourceHandle ?? 'out' });
  }, []);

  const onNodeDragStart = useCallback(() => useStudio.getState().commit(), []);

  // While the view moves, the viewport is its own compositor layer, so a pan moves pixels
  // instead of repainting every node; it is dropped when the view rests, so zoomed text is
  // re-rastered sharp.
  const wrapper = useRef<HTMLDivElement>(null);
  const restTimer = useRef(0);
  const onMove = useCallback(() => {
    const el = wrapper.current;
    if (!el) return;
    if (!el.classList.contains('moving')) el.classList.add('moving');
    window.clearTimeout(restTimer.current);
    restTimer.current = window.setTimeout(() => el.classList.remove('moving'), 200);
  }, []);

  if (!graphID) {
    return (
      <div className="canvas-empty" data-testid="canvas-empty">
        <p>No graph open.</p>
        <button onClick={() => void useStudio.getState().newGraph()} data-testid="new-graph-empty">
          New graph
        </button>
      </div>
    );
  }

  return (
    <div ref={wrapper} className={tiny ? 'canvas far tiny' : far ? 'canvas far' : 'canvas'} onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
      <ReactFlow<FlowNode>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={connect}
        onConnectEnd={onConnectEnd}
        isValidConnection={isValidConnection}
        connectionLineComponent={ConnectionLine}
        onNodeClick={onNodeClick}
        onEdgeClick={onEdgeClick}
        onNodeDragStart={onNodeDragStart}
        onInit={exposeFlow}
        onMove={onMove}
        onlyRenderVisibleElements={!far}
        onSelectionDragStart={onNodeDragStart}
        deleteKeyCode={null}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={['Meta', 'Control', 'Shift']}
        minZoom={0.05}
        maxZoom={2.5}
        snapToGrid
        snapGrid={[10, 10]}
        defaultEdgeOptions={{ interactionWidth: 14 }}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={20} size={1} />
        <MiniMap pannable zoomable nodeStrokeWidth={3} />
        <Controls />
      </ReactFlow>
    </div>
  );
}
