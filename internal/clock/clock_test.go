package clock

import (
	"runtime"
	"testing"
	"time"
)

func TestSystemBoot(t *testing.T) {
	id, since, err := SystemBoot().Boot()
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Fatal("a boot clock outside Linux")
		}
		return
	}
	if err != nil || id == "" || since <= 0 {
		t.Fatalf("Boot() = %q, %s, %v", id, since, err)
	}
	if id2, since2, _ := SystemBoot().Boot(); id2 != id || since2 < since {
		t.Errorf("second reading %q %s after %q %s", id2, since2, id, since)
	}
}

func TestRealTimerFiresAndStops(t *testing.T) {
	c := Real()
	fire, _ := c.NewTimer(time.Millisecond)
	<-fire
	_, stop := c.NewTimer(time.Hour)
	if !stop() {
		t.Error("stop of a pending timer reported false")
	}
	if e := ElapsedOf(c); e() < 0 {
		t.Error("negative elapsed time")
	}
}

func TestFakeFiresOnlyWhenDue(t *testing.T) {
	c := NewFake(false)
	fire, _ := c.NewTimer(time.Minute)
	_, stop := c.NewTimer(2 * time.Minute)
	c.Advance(59 * time.Second)
	select {
	case <-fire:
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Second)
	select {
	case <-fire:
	default:
		t.Fatal("did not fire when due")
	}
	if !stop() {
		t.Error("stop of a pending timer reported false")
	}
	before := c.Elapsed()
	c.Jump(time.Hour)
	if c.Elapsed() != before {
		t.Error("a wall-clock jump moved the monotonic clock")
	}
	id, _, _ := c.Boot()
	c.Reboot(time.Minute)
	if id2, since, _ := c.Boot(); id2 == id || since != time.Minute {
		t.Errorf("after reboot: %q %s", id2, since)
	}
}

func TestFakeAutoFiresAtOnce(t *testing.T) {
	c := NewFake(true)
	start := c.Now()
	fire, _ := c.NewTimer(time.Second)
	if at := <-fire; !at.Equal(start.Add(time.Second)) {
		t.Errorf("fired at %s", at)
	}
	if w := c.Waits(); len(w) != 1 || w[0] != time.Second || <-c.Armed() != time.Second {
		t.Errorf("waits %v", w)
	}
}
