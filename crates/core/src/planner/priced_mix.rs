//! The token mix an external request is priced at when the planner weighs a replica against the
//! external API: the mean request of the recent load, weighted by requests and fading with age, rather
//! than the mean of the last tick alone.
//!
//! Why: a buy is a bet on load that has lasted (`Economics::buy_after_load_s`), and what renting that
//! load has cost is its requests times what they cost, over the time it lasted. One tick's mean comes
//! from the few requests of that tick: at half a request per second a 10-second step holds five, and
//! one long prompt among them makes the external API look several times dearer for that tick. Priced
//! at that tick's mix, load that had lasted hours at a tenth of an L4's capacity bought an L4 (against
//! a cheap API, break-even is near 7%), which the next ticks at the usual mix then released: about a
//! hundred paid start-ups a fortnight on ServeGen with the 8B model. Sizing still follows the heaviest
//! recent mix (`capacity.rs`): a replica must carry the mix that arrives, but a buy pays for the mix
//! the load has had.
//!
//! The mean fades with a time constant of the route's burst window, the window the heaviest mix is
//! kept over: long enough that a tick's few requests cannot swing it, short enough that a lasting
//! change of mix is priced in well before load must have lasted to buy a replica for it.

use super::providers::Mix;

/// The request-weighted, exponentially fading mean of the recent token mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PricedMix {
    /// Mean prompt tokens per request.
    pub prompt_tokens: f64,
    /// Mean output tokens per request.
    pub output_tokens: f64,
    /// The requests behind the mean, faded with age: the weight the next tick's mix is set against.
    pub requests: f64,
    /// When it was last brought up to date (Unix seconds).
    pub at: f64,
}

impl PricedMix {
    /// The mean after a tick at `now` whose `rps` requests per second had the mean request `mix`,
    /// fading what came before with time constant `window_s`. A tick without requests or without a
    /// known mix only fades the weight.
    pub fn update(before: Option<PricedMix>, mix: Option<Mix>, rps: f64, now: f64, window_s: f64) -> Option<PricedMix> {
        let valid = |x: f64| x.is_finite() && x >= 0.0;
        let mix = mix.filter(|m| valid(m.prompt_tokens) && valid(m.output_tokens) && rps.is_finite() && rps > 0.0);
        let Some(b) = before.filter(|b| b.at.is_finite() && b.at <= now && b.requests.is_finite()) else {
            // The first tick's weight is one second of its requests.
            return mix.map(|m| PricedMix {
                prompt_tokens: m.prompt_tokens,
                output_tokens: m.output_tokens,
                requests: rps,
                at: now,
            });
        };
        let elapsed = now - b.at;
        let faded = b.requests.max(0.0) * (-elapsed / window_s.max(1.0)).exp();
        let Some(m) = mix else {
            return Some(PricedMix { requests: faded, at: now, ..b });
        };
        let added = rps * elapsed.max(1.0);
        let total = faded + added;
        let mean = |old: f64, new: f64| (old * faded + new * added) / total;
        Some(PricedMix {
            prompt_tokens: mean(b.prompt_tokens, m.prompt_tokens),
            output_tokens: mean(b.output_tokens, m.output_tokens),
            requests: total,
            at: now,
        })
    }

    /// The mean request, for pricing.
    pub fn mix(&self) -> Mix {
        Mix { prompt_tokens: self.prompt_tokens, output_tokens: self.output_tokens }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: f64 = 300.0;

    fn mix(p: f64, o: f64) -> Mix {
        Mix { prompt_tokens: p, output_tokens: o }
    }

    /// Ticks every 10 s at `rps` with `mix`, from `t`.
    fn run(mut m: Option<PricedMix>, t: &mut f64, ticks: usize, x: Mix, rps: f64) -> Option<PricedMix> {
        for _ in 0..ticks {
            *t += 10.0;
            m = PricedMix::update(m, Some(x), rps, *t, W);
        }
        m
    }

    #[test]
    fn one_tick_of_long_prompts_barely_moves_the_priced_mix() {
        let mut t = 0.0;
        let steady = run(None, &mut t, 120, mix(1000.0, 200.0), 0.5);
        let m = steady.unwrap().mix();
        assert!((m.prompt_tokens - 1000.0).abs() < 1e-9 && (m.output_tokens - 200.0).abs() < 1e-9, "{m:?}");
        // One tick whose few requests had 8k-token prompts.
        let spiked = run(steady, &mut t, 1, mix(8000.0, 200.0), 0.5).unwrap();
        let raised = spiked.prompt_tokens / 1000.0;
        assert!(raised > 1.0 && raised < 1.25, "one tick moved the price by {raised}x");
    }

    #[test]
    fn a_lasting_change_of_mix_is_priced_in_within_a_few_windows() {
        let mut t = 0.0;
        let before = run(None, &mut t, 60, mix(1000.0, 200.0), 2.0);
        // From now on every request has a 15k-token prompt, at the same rate.
        let after = run(before, &mut t, 90, mix(15_000.0, 200.0), 2.0).unwrap(); // 900 s = 3 windows.
        assert!(after.prompt_tokens > 14_000.0, "{after:?}");
    }

    #[test]
    fn requests_weigh_the_mean_and_quiet_ticks_only_fade_it() {
        let mut t = 0.0;
        let busy = run(None, &mut t, 30, mix(1000.0, 100.0), 10.0);
        // A trickle of long prompts weighs a hundredth of the busy load per tick.
        let trickle = run(busy, &mut t, 1, mix(10_000.0, 100.0), 0.1).unwrap();
        assert!(trickle.prompt_tokens < 1010.0, "{trickle:?}");
        // No requests: the mean stays, its weight fades.
        let quiet = run(Some(trickle), &mut t, 30, mix(50_000.0, 100.0), 0.0).unwrap();
        assert_eq!(quiet.prompt_tokens, trickle.prompt_tokens);
        assert!(quiet.requests < trickle.requests * 0.4, "{quiet:?}");
        // Not a mix, or none known: left out.
        let unknown = PricedMix::update(Some(quiet), None, 5.0, t + 10.0, W).unwrap();
        assert_eq!(unknown.prompt_tokens, quiet.prompt_tokens);
        let bad = PricedMix::update(Some(quiet), Some(mix(f64::NAN, 1.0)), 5.0, t + 10.0, W).unwrap();
        assert_eq!(bad.prompt_tokens, quiet.prompt_tokens);
        assert_eq!(PricedMix::update(None, Some(mix(-1.0, 1.0)), 5.0, 0.0, W), None);
    }
}
