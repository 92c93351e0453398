package metrics

import "testing"

// The quota counter reaches the Prometheus endpoint per rule, mode and event.
func TestQuotaEventsScrape(t *testing.T) {
	p := testProcess(t)
	r := p.newRecorder(Spec{ListenAddress: "127.0.0.1:0", Path: "/metrics"})
	defer r.Close()
	addr := waitServing(t, p)
	CountQuota("scrape-per-key", "enforce", QuotaRejected)
	CountQuota("scrape-per-key", "enforce", QuotaRejected)
	CountQuota("scrape-per-model", "shadow", QuotaOverrun)
	got := series(t, scrape(t, "http://"+addr+"/metrics"), "aigw_quota_events_total")
	want := map[string]float64{
		"aigw_quota_event=rejected,aigw_quota_mode=enforce,aigw_quota_rule=scrape-per-key": 2,
		"aigw_quota_event=overrun,aigw_quota_mode=shadow,aigw_quota_rule=scrape-per-model": 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if QuotaCount("scrape-per-key", "enforce", QuotaRejected) != 2 {
		t.Error("QuotaCount")
	}
}
