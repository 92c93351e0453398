package cthread

import (
	"runtime"
	"sync"
	"testing"
)

// Each thread keeps its number, and two threads get two.
func TestNumberPerThread(t *testing.T) {
	nums := make([]uint32, 4)
	var wg sync.WaitGroup
	for i := range nums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // this goroutine's thread is not reused while it runs
			nums[i] = Number()
			for range 100 {
				if n := Number(); n != nums[i] {
					t.Errorf("the thread's number changed from %d to %d", nums[i], n)
				}
			}
			// Left locked: the thread exits with the goroutine, so no
			// later goroutine runs on it and reads its number.
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, n := range nums {
		if seen[n] {
			t.Fatalf("two threads got number %d: %v", n, nums)
		}
		seen[n] = true
	}
}
