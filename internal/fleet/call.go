package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// inbound is one message on a response topic.
type inbound struct {
	name    string
	topic   Topic
	payload []byte
}

// waiter receives the responses of the one call of its operation in flight.
type waiter struct {
	accepted, rejected string
	msgs               chan inbound
}

// waiterDepth bounds the answers buffered for a call; more are dropped, as they
// can only be duplicates or someone else's.
const waiterDepth = 8

// subackFailure is the SUBACK return code for a refused subscription (MQTT 3.1.1 section 3.9.3).
const subackFailure = 0x80

// handle decides whether a response topic's message belongs to the call in flight.
// It never blocks the MQTT client.
func (c *Client) handle(_ mqtt.Client, m mqtt.Message) {
	name := m.Topic()
	t, err := ParseTopic(name)
	if err != nil || t.Kind == TopicRequest {
		c.log.Debug("ignored message on an unexpected topic", zap.String("topic", name))
		return
	}
	c.mu.Lock()
	w := c.waiters[t.Operation]
	c.mu.Unlock()
	if w == nil || (name != w.accepted && name != w.rejected) {
		c.log.Debug("ignored message: no call waits for it", zap.String("topic", name))
		return
	}
	select {
	case w.msgs <- inbound{name: name, topic: t, payload: m.Payload()}:
	default:
		c.log.Debug("ignored message: the call has enough pending answers", zap.String("topic", name))
	}
}

// verdict is what a call makes of one answer.
type verdict int

const (
	verdictIgnore verdict = iota // not ours: keep waiting
	verdictDone                  // ours: the call ends with the result or error
)

// call runs one request/response exchange: take the operation's turn, subscribe
// to both response topics, publish, and pass each answer to accept until it
// returns verdictDone. Rejections end the call with a *RejectedError.
func (c *Client) call(ctx context.Context, op Operation, template string, payload []byte,
	accept func(in inbound) (verdict, error)) error {
	select {
	case <-c.closed:
		return fmt.Errorf("%s: %w", op, ErrClosed)
	case <-c.lost:
		return c.lostError(op)
	default:
	}
	c.mu.Lock()
	stale := c.stale[op]
	c.mu.Unlock()
	if stale {
		return fmt.Errorf("%s: %w", op, ErrRedial)
	}
	if ctx.Err() != nil {
		// Nothing is sent for a call that is over before it starts.
		return c.doneError(op, ctx, ctx, "before sending")
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.s.ResponseTimeout)
	defer cancel()

	lock := c.opLocks[op]
	select {
	case lock <- struct{}{}:
		defer func() { <-lock }()
	case <-ctx.Done():
		return c.doneError(op, parent, ctx, "waiting for the previous call of the same operation")
	case <-c.closed:
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}

	f := c.s.Format
	req, err := RequestTopic(op, template, f)
	if err != nil {
		return &OptionsError{Field: "template", Reason: err.Error()}
	}
	w := &waiter{msgs: make(chan inbound, waiterDepth)}
	w.accepted, _ = AcceptedTopic(op, template, f)
	w.rejected, _ = RejectedTopic(op, template, f)

	if err := c.subscribe(ctx, parent, op, w.accepted, w.rejected); err != nil {
		return err
	}
	c.mu.Lock()
	c.waiters[op] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, op)
		c.mu.Unlock()
	}()

	if ctx.Err() != nil {
		// Over before the request was handed to the connection: nothing
		// went out, so the operation stays usable.
		return c.doneError(op, parent, ctx, "before sending")
	}
	c.log.Debug("publishing request", zap.String("topic", req), zap.Int("bytes", len(payload)))
	// The answer may come before the PUBACK: the PUBACK is watched
	// alongside the answer, never waited for first.
	pub := c.mqtt.Publish(req, 1, false, payload)
	pubDone := pub.Done()
	for {
		select {
		case <-pubDone:
			pubDone = nil
			if pub.Error() != nil {
				return c.wait(ctx, parent, op, "publish", pub)
			}
		case in := <-w.msgs:
			if in.topic.Kind == TopicRejected {
				rej, err := DecodeRejected(op, f, in.payload)
				if err != nil {
					return invalid(in.name, "", "rejected payload does not decode", err)
				}
				c.log.Debug("request rejected", zap.String("topic", in.name),
					zap.Int("statusCode", rej.StatusCode), zap.String("errorCode", rej.ErrorCode))
				return rej
			}
			v, err := accept(in)
			if v == verdictDone {
				return err
			}
			c.log.Debug("ignored an accepted answer meant for another call", zap.String("topic", in.name), zap.Error(err))
		case <-ctx.Done():
			c.markStale(op)
			return c.doneError(op, parent, ctx, "waiting for the answer")
		case <-c.lost:
			return c.lostError(op)
		case <-c.closed:
			return fmt.Errorf("%s: %w", op, ErrClosed)
		}
	}
}

// markStale refuses later calls of op on this connection (see Client).
func (c *Client) markStale(op Operation) {
	c.mu.Lock()
	c.stale[op] = true
	c.mu.Unlock()
	c.log.Debug("operation unusable on this connection after an unanswered call", zap.String("operation", string(op)))
}

// subscription is one SUBSCRIBE sent; its SUBACK is read by the first call
// that needs one of its topics.
type subscription struct {
	tok     mqtt.Token
	filters map[string]byte
}

// subscribeAhead sends, right after CONNACK, the one SUBSCRIBE for every
// response topic of the calls named in Options.Calls, without waiting for
// its SUBACK: the first call waits for it (subscribe before publish).
func (c *Client) subscribeAhead() {
	filters := map[string]byte{}
	for _, op := range c.s.Calls {
		tmpl := ""
		if op == OpRegisterThing {
			tmpl = c.s.Template
		}
		for _, topic := range responseTopics(op, tmpl, c.s.Format) {
			filters[topic] = 1
		}
	}
	if len(filters) > 0 {
		c.mu.Lock()
		c.sendSubscribe(filters)
		c.mu.Unlock()
	}
}

// responseTopics are an operation's accepted and rejected topics.
func responseTopics(op Operation, template string, f Format) []string {
	acc, _ := AcceptedTopic(op, template, f)
	rej, _ := RejectedTopic(op, template, f)
	return []string{acc, rej}
}

// sendSubscribe sends one SUBSCRIBE for filters; c.mu is held.
func (c *Client) sendSubscribe(filters map[string]byte) *subscription {
	sub := &subscription{tok: c.mqtt.SubscribeMultiple(filters, c.handle), filters: filters}
	for t := range filters {
		c.inflight[t] = sub
	}
	return sub
}

// subscribe holds QoS 1 subscriptions to the response topics for the rest of
// the connection, and returns once a SUBACK granted them: the one sent
// ahead by Dial, or one sent now for the topics not yet asked for.
func (c *Client) subscribe(ctx, parent context.Context, op Operation, topics ...string) error {
	var waits []*subscription
	filters := map[string]byte{}
	c.mu.Lock()
	for _, t := range topics {
		switch sub := c.inflight[t]; {
		case c.subscribed[t]:
		case sub != nil:
			if !slices.Contains(waits, sub) {
				waits = append(waits, sub)
			}
		default:
			filters[t] = 1
		}
	}
	if len(filters) > 0 {
		waits = append(waits, c.sendSubscribe(filters))
	}
	c.mu.Unlock()
	for _, sub := range waits {
		if err := c.wait(ctx, parent, op, "subscribe", sub.tok); err != nil {
			return err
		}
		if err := c.granted(sub); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range topics {
		if !c.subscribed[t] {
			return fmt.Errorf("%s: subscribe to %s: %w", op, t, ErrSubscriptionRefused)
		}
	}
	return nil
}

// granted records what a SUBACK granted. A refused topic is asked for
// again by the next call that needs it.
func (c *Client) granted(sub *subscription) error {
	st, ok := sub.tok.(*mqtt.SubscribeToken)
	if !ok {
		return fmt.Errorf("subscribe: unexpected token type %T", sub.tok)
	}
	codes := st.Result()
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range sub.filters {
		if c.inflight[t] == sub {
			delete(c.inflight, t)
		}
		if code, ok := codes[t]; ok && code != subackFailure {
			c.subscribed[t] = true
		}
	}
	return nil
}

// wait waits for an MQTT token, the context, or the end of the connection.
func (c *Client) wait(ctx, parent context.Context, op Operation, what string, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			select {
			case <-c.lost:
				return c.lostError(op)
			case <-c.closed:
				return fmt.Errorf("%s: %w", op, ErrClosed)
			default:
			}
			if errors.Is(err, mqtt.ErrNotConnected) || !c.mqtt.IsConnectionOpen() {
				// paho fails pending tokens before it reports the loss.
				return fmt.Errorf("%s: %s: %w: %w", op, what, ErrConnectionLost, err)
			}
			return fmt.Errorf("%s: %s: %w", op, what, err)
		}
		return nil
	case <-ctx.Done():
		return c.doneError(op, parent, ctx, what)
	case <-c.lost:
		return c.lostError(op)
	case <-c.closed:
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
}

func (c *Client) lostError(op Operation) error {
	return fmt.Errorf("%s: %w: %w", op, ErrConnectionLost, c.lostErr)
}

// doneError explains why ctx ended: the caller cancelled, or the response
// timeout (ours or the caller's deadline) passed.
func (c *Client) doneError(op Operation, parent, ctx context.Context, what string) error {
	if err := parent.Err(); errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %s: %w", op, what, err)
	}
	if err := parent.Err(); err != nil {
		return fmt.Errorf("%s: %s: %w (%w)", op, what, ErrTimeout, err)
	}
	return fmt.Errorf("%s: %s: %w after %s", op, what, ErrTimeout, c.s.ResponseTimeout)
}
