package fleetsim

import (
	"errors"
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"go.uber.org/zap"
)

// errFaultDisconnect is the stop cause of a connection closed by a disconnect fault.
var errFaultDisconnect = errors.New("fault injected: disconnect")

// What handle logs as it applies a fault.
const (
	faultDelayMessage = "fault delaying the request"
	faultMessage      = "fault injected"
)

// handle processes one request, off the client's read path: faults, rate limit, the
// operation, and the answer to the connection that asked.
func (s *Server) handle(cl *mqtt.Client, ci *clientInfo, req requestTopic, payload []byte) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("internal error while handling a request", zap.String("topic", req.topic), zap.Any("panic", r))
			s.answer(cl, req, nil, errorf(500, codeInternalFailure, "internal error while handling %s", req.op.apiName()))
		}
	}()
	p := s.faults.match(req.op)
	if p.delay > 0 {
		s.log.Debug(faultDelayMessage, zap.Duration("delay", p.delay), zap.String("clientId", cl.ID), zap.String("topic", req.topic))
		t := time.NewTimer(p.delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if f := p.terminal; f != nil {
		s.log.Info(faultMessage, zap.String("fault", f.String()), zap.String("clientId", cl.ID), zap.String("topic", req.topic))
		switch f.Action {
		case FaultDrop:
			return
		case FaultDisconnect:
			cl.Stop(errFaultDisconnect)
			return
		case FaultReject:
			s.answer(cl, req, nil, errorf(f.Status, codeForStatus(f.Status), "fault injected: %s", f))
			return
		}
	}
	if b := s.rates[req.op]; b != nil && !b.allow(s.now()) {
		s.answer(cl, req, nil, errorf(429, codeThrottling, "rate limit exceeded for %s: at most %g requests per second",
			req.op.apiName(), b.rate))
		return
	}
	var resp any
	var aerr *mqttError
	switch req.op {
	case opCreateKeys:
		if aerr = s.pastProvisioningClaimWindow(ci); aerr == nil {
			resp, aerr = s.createKeys(req.format, payload)
		}
	case opCreateFromCSR:
		if aerr = s.pastProvisioningClaimWindow(ci); aerr == nil {
			resp, aerr = s.createFromCSR(req.format, payload)
		}
	case opRegister:
		resp, aerr = s.registerThing(cl, ci, req, payload)
	default:
		aerr = errorf(400, codeInvalidRequest, "unknown operation on topic %s", req.topic)
	}
	s.answer(cl, req, resp, aerr)
}

// answer sends resp on /accepted, or aerr on /rejected, in the request's format.
func (s *Server) answer(cl *mqtt.Client, req requestTopic, resp any, aerr *mqttError) {
	topic := req.accepted()
	var body any = resp
	if aerr != nil {
		topic = req.rejected()
		body = rejectedResponse{StatusCode: aerr.status, ErrorCode: aerr.code, ErrorMessage: aerr.msg}
		s.log.Info("request rejected", zap.String("clientId", cl.ID), zap.String("topic", req.topic),
			zap.Int("status", aerr.status), zap.String("errorCode", aerr.code), zap.String("message", aerr.msg))
	}
	payload, err := encode(req.format, body)
	if err != nil {
		topic = req.rejected()
		payload, _ = encode(req.format, rejectedResponse{StatusCode: 500, ErrorCode: codeInternalFailure,
			ErrorMessage: fmt.Sprintf("cannot encode the answer: %v", err)})
	}
	if err := s.respond(cl, topic, payload); err != nil {
		s.log.Debug("answer not delivered", zap.String("clientId", cl.ID), zap.String("topic", topic), zap.Error(err))
	}
}
