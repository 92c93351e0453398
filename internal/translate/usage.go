package translate

import "math"

// MaxPlausibleTokens is the largest token count a provider report is
// believed for: 10^12, five orders of magnitude above the largest context
// windows (about 10^7 tokens), so no real response comes near it, while four
// such counts still add up far below MaxInt64. A provider number is
// plausible when it is in [0, MaxPlausibleTokens]. Reading usage:
//
//   - a negative count is clamped to 0 (a bug upstream must not subtract
//     from the counters or reach the client's usage chunk as negative);
//   - a count above MaxPlausibleTokens is not counted (0): it is a broken or
//     hostile report, and counting it would swamp every total;
//   - sums (Anthropic's prompt = input + cache reads + cache writes, a
//     missing total = prompt + completion) saturate instead of wrapping;
//   - cached and cache-creation input tokens are at most the input tokens,
//     reasoning tokens at most the output tokens.
const MaxPlausibleTokens int64 = 1_000_000_000_000

// plausible returns n if it is a plausible token count, else 0.
func plausible(n int64) int64 {
	if n < 0 || n > MaxPlausibleTokens {
		return 0
	}
	return n
}

// addTokens adds two counts, saturating at MaxInt64 (and treating negative
// inputs as 0), so no sum of provider numbers can wrap.
func addTokens(a, b int64) int64 {
	a, b = max(a, 0), max(b, 0)
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// sane applies the plausibility rules to a complete Usage.
func (u Usage) sane() Usage {
	u.InputTokens = plausible(u.InputTokens)
	u.OutputTokens = plausible(u.OutputTokens)
	u.CachedInputTokens = min(plausible(u.CachedInputTokens), u.InputTokens)
	u.CacheCreationInputTokens = min(plausible(u.CacheCreationInputTokens), u.InputTokens)
	u.ReasoningTokens = min(plausible(u.ReasoningTokens), u.OutputTokens)
	sum := addTokens(u.InputTokens, u.OutputTokens)
	if t := plausible(u.TotalTokens); t >= sum {
		u.TotalTokens = t
	} else {
		// Missing, implausible or smaller than its parts: the parts win.
		u.TotalTokens = sum
	}
	return u
}

// usageFromOpenAI is the gateway's Usage for an OpenAI usage object (nil:
// none reported) of a response or stream served by model.
func usageFromOpenAI(u *oaiUsage, model string) Usage {
	if u == nil {
		return Usage{Model: model}
	}
	r := Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens, Model: model}
	if u.PromptTokensDetails != nil {
		r.CachedInputTokens = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		r.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return r.sane()
}
