package app

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

const (
	wsWriteWait  = 10 * time.Second
	wsPingEvery  = 30 * time.Second
	wsReadLimit  = 64 << 10
	wsPongWithin = wsPingEvery + 10*time.Second
)

// clientMessage is a client → server WebSocket message.
type clientMessage struct {
	Type string `json:"type"` // subscribe, unsubscribe, tap, untap
	Run  string `json:"run"`
	Node string `json:"node"`
	Port string `json:"port"`
}

// websocket upgrades /api/ws. Origin must be the studio itself or the Wails window (the guard
// checks it already for browsers; the upgrader repeats it, refusing with 403).
func (h *handler) websocket(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 32 << 10,
		// The client offers WSProtocol and its token (atoll.token.<token>, checked by the guard);
		// the answer names WSProtocol, never the token.
		Subprotocols: []string{WSProtocol},
		CheckOrigin: func(r *http.Request) bool {
			o := r.Header.Get("Origin")
			return o == "" || originAllowed(o, r.Host)
		},
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := h.svc.newClient()
	done := make(chan struct{})
	go h.wsWriter(conn, c, done)
	h.wsReader(conn, c)
	close(done)
	c.close()
}

func (h *handler) wsReader(conn *websocket.Conn, c *client) {
	conn.SetReadLimit(wsReadLimit)
	conn.SetReadDeadline(time.Now().Add(wsPongWithin))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wsPongWithin)) })
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(wsPongWithin))
		var m clientMessage
		if err := json.Unmarshal(data, &m); err != nil {
			c.offer(encode(errorEvent{Type: "error", Error: "message: " + err.Error()}))
			continue
		}
		var merr error
		switch m.Type {
		case "subscribe":
			merr = c.subscribe(m.Run)
		case "unsubscribe":
			c.unsubscribe(m.Run)
		case "tap":
			merr = c.tap(m.Run, m.Node, m.Port)
		case "untap":
			c.untap(m.Run, m.Node, m.Port)
		default:
			c.offer(encode(errorEvent{Type: "error", Error: "unknown message type " + m.Type}))
		}
		if merr != nil {
			c.offer(encode(errorEvent{Type: "error", Error: m.Type + ": " + merr.Error()}))
		}
	}
}

// wsWriter sends the client's queued events; a client too slow to take them loses events
// (counted in client.dropped), never the engine's time.
func (h *handler) wsWriter(conn *websocket.Conn, c *client, done <-chan struct{}) {
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	defer conn.Close()
	for {
		select {
		case b := <-c.out:
			conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-ping.C:
			conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case <-done:
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			return
		}
	}
}
