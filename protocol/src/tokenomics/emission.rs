//! Emissions: a fixed annual amount, released per epoch, allocated across Supernets pro rata
//! to the tokens bonded (staked or delegated) to each.

use std::collections::BTreeMap;

/// The emission of epoch `epoch` (from 0): `floor(A·(e+1)/N) − floor(A·e/N)` within each
/// year, so every year releases exactly `annual`, in epochs that differ by at most one.
pub fn epoch_emission(annual: u64, epochs_per_year: u64, epoch: u64) -> u64 {
    if epochs_per_year == 0 {
        return 0;
    }
    let e = u128::from(epoch % epochs_per_year);
    let (a, n) = (u128::from(annual), u128::from(epochs_per_year));
    ((a * (e + 1)) / n - (a * e) / n) as u64
}

/// Splits `amount` across keys pro rata to `weights`, rounding each share down. Returns the
/// shares (keys with weight 0 get none) and what rounding left, which is all of `amount`
/// when every weight is 0.
pub fn pro_rata<K: Ord + Clone>(
    amount: u64,
    weights: &BTreeMap<K, u64>,
) -> (BTreeMap<K, u64>, u64) {
    let total: u128 = weights.values().map(|w| u128::from(*w)).sum();
    let mut shares = BTreeMap::new();
    if total == 0 {
        return (shares, amount);
    }
    let mut given = 0u64;
    for (k, w) in weights {
        let share = (u128::from(amount) * u128::from(*w) / total) as u64;
        if share > 0 {
            shares.insert(k.clone(), share);
            given += share;
        }
    }
    (shares, amount - given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_releases_exactly_the_annual_emission() {
        for (annual, n) in [
            (50_000_000u64, 365u64),
            (7, 3),
            (1, 365),
            (u64::MAX / 2, 12),
        ] {
            let year: u128 = (0..n)
                .map(|e| u128::from(epoch_emission(annual, n, e)))
                .sum();
            assert_eq!(year, u128::from(annual));
            let next: u128 = (n..2 * n)
                .map(|e| u128::from(epoch_emission(annual, n, e)))
                .sum();
            assert_eq!(next, u128::from(annual));
        }
        // 7 over 3 epochs: 2, 2, 3.
        assert_eq!(
            (0..3).map(|e| epoch_emission(7, 3, e)).collect::<Vec<_>>(),
            vec![2, 2, 3]
        );
    }

    #[test]
    fn allocation_is_pro_rata_and_rounding_is_left_over() {
        let weights: BTreeMap<&str, u64> = [("a", 1), ("b", 2), ("c", 0)].into();
        let (shares, dust) = pro_rata(100, &weights);
        assert_eq!(shares, [("a", 33), ("b", 66)].into());
        assert_eq!(dust, 1);
        let (shares, dust) = pro_rata(100, &BTreeMap::<&str, u64>::new());
        assert!(shares.is_empty());
        assert_eq!(dust, 100);
    }
}
