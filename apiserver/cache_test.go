package apiserver

import "testing"

// TestAnswerCacheBytes: the answer cache keeps at most answerCacheBytes of
// answers, the least recently used going first, and always the newest.
func TestAnswerCacheBytes(t *testing.T) {
	c := newAnswerCache(512)
	mb := func(n int) answer { return answer{body: make([]byte, n<<20)} }
	c.put(1, "a", mb(12))
	c.put(1, "b", mb(12))
	if _, ok := c.get(1, "a"); !ok { // a is now the most recent
		t.Fatal("a not kept")
	}
	c.put(1, "c", mb(12)) // 36 MiB: b goes
	if _, ok := c.get(1, "b"); ok {
		t.Error("b kept past the bound")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.get(1, k); !ok {
			t.Errorf("%s not kept", k)
		}
	}
	c.put(1, "a", mb(1)) // replaced by a smaller answer
	if c.bytes != 13<<20 {
		t.Errorf("%d bytes kept, want %d", c.bytes, 13<<20)
	}
	c.put(1, "huge", mb(40))
	if _, ok := c.get(1, "huge"); !ok || c.entries.Len() != 1 || c.bytes != 40<<20 {
		t.Errorf("the newest answer alone: kept %v, %d answers, %d bytes", ok, c.entries.Len(), c.bytes)
	}
}
