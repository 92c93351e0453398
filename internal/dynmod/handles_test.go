package dynmod

import (
	"sync"
	"testing"
)

func TestHandleTableConcurrentLifecycle(t *testing.T) {
	var tab handleTable[int]
	const workers, perWorker = 8, 500
	ids := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				id := tab.add(w*perWorker + i)
				if v, ok := tab.get(id); !ok || v != w*perWorker+i {
					t.Errorf("get(%d) = %d, %v", id, v, ok)
				}
				ids[w] = append(ids[w], id)
			}
		}()
	}
	wg.Wait()

	seen := map[uint64]bool{}
	for _, ws := range ids {
		for _, id := range ws {
			if id == 0 || seen[id] {
				t.Fatalf("id %d is zero or handed out twice", id)
			}
			seen[id] = true
		}
	}
	if n := tab.len(); n != workers*perWorker {
		t.Fatalf("len = %d, want %d", n, workers*perWorker)
	}

	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range ids[w] {
				if _, ok := tab.remove(id); !ok {
					t.Errorf("remove(%d) found nothing", id)
				}
				if _, ok := tab.remove(id); ok {
					t.Errorf("second remove(%d) found something", id)
				}
				if _, ok := tab.get(id); ok {
					t.Errorf("get(%d) after remove", id)
				}
			}
		}()
	}
	wg.Wait()
	if n := tab.len(); n != 0 {
		t.Fatalf("len = %d after removing everything", n)
	}
	if _, ok := tab.get(0); ok {
		t.Fatal("id 0 (a NULL module pointer) found an object")
	}
}
