package fleetsim

import (
	"fmt"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"
)

// AWS IoT's message broker limits on topics and subscriptions.
const (
	maxTopicBytes          = 256
	maxTopicSlashes        = 7
	maxSubscriptions       = 50 // per connection
	maxFiltersPerSubscribe = 8
)

// topicLimitError says why a topic or filter breaks AWS's limits; "" when it does not.
func topicLimitError(topic string) string {
	switch {
	case len(topic) > maxTopicBytes:
		return fmt.Sprintf("topic is %d bytes long, the limit is %d", len(topic), maxTopicBytes)
	case strings.Count(topic, "/") > maxTopicSlashes:
		return fmt.Sprintf("topic has %d slashes, the limit is %d", strings.Count(topic, "/"), maxTopicSlashes)
	}
	return ""
}

// clientIDError says why a CONNECT's client ID is refused; "" when it is not.
func clientIDError(id string) string {
	switch {
	case id == "":
		return "an empty client ID is not accepted: the client must name itself"
	case strings.HasPrefix(id, "$"):
		return "client IDs starting with $ are reserved"
	case len(id) > maxClientID:
		return fmt.Sprintf("client ID is %d bytes long, the limit is %d", len(id), maxClientID)
	}
	return ""
}

// refusedFilter replaces a filter that breaks a limit: it is no valid filter, so the
// broker answers it with a SUBACK failure (0x80; 0x8F in MQTT 5) and subscribes nothing.
const refusedFilter = ""

// limitSubscribe applies the subscription limits to a SUBSCRIBE. More than 8 filters fail
// the whole packet; a filter too long or too deep fails, and so does each new filter
// beyond the connection's 50 subscriptions.
func (h *brokerHook) limitSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	refuse := func(i int, why string) {
		h.s.log.Info("subscription refused", zap.String("clientId", cl.ID), zap.String("filter", truncate(pk.Filters[i].Filter, 64)), zap.String("reason", why))
		pk.Filters[i].Filter = refusedFilter
	}
	if len(pk.Filters) > maxFiltersPerSubscribe {
		why := fmt.Sprintf("%d filters in one SUBSCRIBE, the limit is %d", len(pk.Filters), maxFiltersPerSubscribe)
		for i := range pk.Filters {
			refuse(i, why)
		}
		return pk
	}
	held := cl.State.Subscriptions.GetAll()
	count := len(held)
	for i, sub := range pk.Filters {
		if why := topicLimitError(sub.Filter); why != "" {
			refuse(i, why)
			continue
		}
		if _, ok := held[sub.Filter]; ok {
			continue
		}
		if count >= maxSubscriptions {
			refuse(i, fmt.Sprintf("the connection holds %d subscriptions, the limit is %d", count, maxSubscriptions))
			continue
		}
		held[sub.Filter] = sub
		count++
	}
	return pk
}

// truncate shortens s for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
