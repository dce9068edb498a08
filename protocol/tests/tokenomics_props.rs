//! The token rules' invariants over random sequences of operations, and one job's payment
//! computed by hand.

use lagrange_protocol::tokenomics::ledger::Bond;
use lagrange_protocol::tokenomics::{Ledger, SlashTo, TokenomicsParams};
use lagrange_protocol::{Keypair, PublicKey, SupernetId};
use proptest::prelude::*;

fn who(n: u8) -> PublicKey {
    Keypair::insecure_from_seed(u64::from(n)).public()
}

fn net(n: u8) -> SupernetId {
    SupernetId::new(["coprocessor", "zkml", "open"][usize::from(n % 3)]).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Deposit(u8, u64),
    Bond(u8, u8, bool, u64),
    Unbond(u8, u8, bool, u64),
    Slash(u8, u8, bool, u64),
    Pay(u8, u8, u8, u64),
    Settle(u8, u8, u8, u64),
    Fund(u8, u64),
    Claim(u8),
    EndEpoch,
}

fn op() -> impl Strategy<Value = Op> {
    let a = 0u8..6;
    prop_oneof![
        (a.clone(), 0u64..1_000_000).prop_map(|(c, x)| Op::Deposit(c, x)),
        (a.clone(), 0u8..3, any::<bool>(), 0u64..2_000_000)
            .prop_map(|(h, s, d, x)| Op::Bond(h, s, d, x)),
        (a.clone(), 0u8..3, any::<bool>(), 0u64..2_000_000)
            .prop_map(|(h, s, d, x)| Op::Unbond(h, s, d, x)),
        (a.clone(), 0u8..3, any::<bool>(), 0u64..500_000)
            .prop_map(|(h, s, d, x)| Op::Slash(h, s, d, x)),
        (0u8..3, a.clone(), a.clone(), 0u64..100_000).prop_map(|(s, c, p, x)| Op::Pay(s, c, p, x)),
        (0u8..3, a.clone(), a.clone(), 0u64..100_000)
            .prop_map(|(s, c, p, x)| Op::Settle(s, c, p, x)),
        (0u8..3, 0u64..200_000_000).prop_map(|(s, x)| Op::Fund(s, x)),
        a.prop_map(Op::Claim),
        Just(Op::EndEpoch),
    ]
}

fn params(slash_to: SlashTo) -> TokenomicsParams {
    TokenomicsParams {
        initial_supply: 100_000_000,
        annual_emission: 5_000_000,
        epochs_per_year: 12,
        vesting_cliff_epochs: 1,
        vesting_epochs: 4,
        unbonding_epochs: 2,
        slash_to,
        pool_native: 10_000_000,
        pool_fee_asset: 20_000_000,
        ..TokenomicsParams::default()
    }
}

fn check(ledger: &Ledger) -> Result<(), TestCaseError> {
    let s = ledger.supply();
    prop_assert_eq!(s.total(), s.placed(), "supply {:?}", s);
    let (held, brought) = ledger.fee_asset();
    prop_assert_eq!(held, brought);
    let pool = ledger.pool();
    prop_assert!(pool.native > 0 && pool.fee_asset > 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_token_is_in_one_place_and_supply_is_initial_plus_emitted_minus_burnt(
        ops in proptest::collection::vec(op(), 1..120),
        burn in any::<bool>(),
    ) {
        let allocations: Vec<_> = (0..6).map(|n| (who(n), 1_000_000)).collect();
        let mut ledger = Ledger::genesis(
            params(if burn { SlashTo::Burn } else { SlashTo::Treasury }),
            &allocations,
        ).unwrap();
        check(&ledger)?;
        let mut last_k = {
            let p = ledger.pool();
            u128::from(p.native) * u128::from(p.fee_asset)
        };
        for op in ops {
            let before = ledger.clone();
            let result = match op {
                Op::Deposit(c, x) => ledger.deposit_fees(&who(c), x).map(|_| ()),
                Op::Bond(h, s, d, x) => {
                    let b = if d { Bond::Delegation } else { Bond::Stake };
                    ledger.bond(&who(h), &net(s), b, x)
                }
                Op::Unbond(h, s, d, x) => {
                    let b = if d { Bond::Delegation } else { Bond::Stake };
                    ledger.unbond(&who(h), &net(s), b, x)
                }
                Op::Slash(h, s, d, x) => {
                    let b = if d { Bond::Delegation } else { Bond::Stake };
                    ledger.slash(&who(h), &net(s), b, x).map(|_| ())
                }
                Op::Pay(s, c, p, x) => ledger.pay_job(&net(s), &who(c), &who(p), x).map(|pay| {
                    assert_eq!(pay.split.client + pay.split.subsidy_value, x);
                    assert_eq!(pay.buyback_fee + pay.prover_fee, pay.split.client);
                }),
                // A client paying from outside: its part is brought in and paid out at once.
                Op::Settle(s, c, p, x) => {
                    let held = ledger.fees(&who(c));
                    let quote = ledger.quote(&net(s), x);
                    ledger.settle_job(&net(s), &who(c), &who(p), x).map(|pay| {
                        assert_eq!(pay.split, quote);
                        if c != p {
                            assert_eq!(ledger.fees(&who(c)), held);
                        }
                    })
                }
                Op::Fund(s, x) => ledger.fund_budget(&net(s), x),
                Op::Claim(h) => ledger.claim(&who(h)).map(|_| ()),
                Op::EndEpoch => ledger.end_epoch().map(|_| ()),
            };
            // A refused operation changes nothing.
            if result.is_err() {
                prop_assert_eq!(ledger.supply(), before.supply());
                prop_assert_eq!(ledger.fee_asset(), before.fee_asset());
            }
            check(&ledger)?;
            let p = ledger.pool();
            let k = u128::from(p.native) * u128::from(p.fee_asset);
            prop_assert!(k >= last_k, "the pool's product fell");
            last_k = k;
            if !burn {
                prop_assert_eq!(ledger.supply().burned, 0);
            }
        }
    }

    #[test]
    fn a_year_of_epochs_emits_the_annual_emission(epochs in 12u64..40) {
        let mut ledger = Ledger::genesis(params(SlashTo::Burn), &[(who(0), 1_000)]).unwrap();
        ledger.bond(&who(0), &net(0), Bond::Delegation, 1_000).unwrap();
        let mut emitted = 0u64;
        for e in 0..epochs {
            emitted += ledger.end_epoch().unwrap();
            if (e + 1) % 12 == 0 {
                prop_assert_eq!(emitted, 5_000_000 * (e + 1) / 12);
            }
        }
        check(&ledger)?;
    }
}

#[test]
fn one_job_paid_by_hand() {
    // Pool 10,000,000 tokens against 20,000,000 fee units: a token is worth 2 units.
    let mut ledger = Ledger::genesis(params(SlashTo::Burn), &[(who(1), 3_000)]).unwrap();
    let (client, prover, holder) = (who(0), who(2), who(1));
    let s = net(0);
    // The holder delegates everything to one Supernet, so it gets the whole emission:
    // epoch 0 of 12 releases floor(5,000,000 / 12) = 416,666.
    ledger.bond(&holder, &s, Bond::Delegation, 3_000).unwrap();
    assert_eq!(ledger.end_epoch().unwrap(), 416_666);
    assert_eq!(ledger.budget(&s), 416_666);
    ledger.deposit_fees(&client, 10_000).unwrap();
    // Price 1,000; last epoch's demand 0, so demand is taken as the price. The budget is
    // worth 833,332 units, far over the demand: the cap of 80% applies. Subsidy 800 units
    // = 400 tokens; the client pays 200, of which 20% (40) buys tokens:
    // floor(10,000,000 · 40 / 20,000,040) = 19; the prover gets 160 units.
    let pay = ledger.pay_job(&s, &client, &prover, 1_000).unwrap();
    assert_eq!(
        (
            pay.split.client,
            pay.split.subsidy_value,
            pay.split.subsidy_native
        ),
        (200, 800, 400)
    );
    assert_eq!(
        (pay.buyback_fee, pay.bought_native, pay.prover_fee),
        (40, 19, 160)
    );
    assert_eq!(ledger.fees(&client), 9_800);
    assert_eq!(ledger.fees(&prover), 160);
    assert_eq!(ledger.budget(&s), 416_266);
    // 419 tokens vest: nothing before the one-epoch cliff, then a quarter per epoch.
    assert_eq!(ledger.vesting(&prover), (419, 0));
    assert_eq!(ledger.claim(&prover).unwrap(), 0);
    ledger.end_epoch().unwrap();
    assert_eq!(ledger.vesting(&prover), (315, 104));
    assert_eq!(ledger.claim(&prover).unwrap(), 104);
    for _ in 0..3 {
        ledger.end_epoch().unwrap();
    }
    assert_eq!(ledger.claim(&prover).unwrap(), 315);
    assert_eq!(ledger.liquid(&prover), 419);
    // Unbonding: two epochs, then liquid.
    ledger.unbond(&holder, &s, Bond::Delegation, 1_000).unwrap();
    assert_eq!(ledger.unbonding(&holder), 1_000);
    ledger.end_epoch().unwrap();
    assert_eq!(ledger.liquid(&holder), 0);
    ledger.end_epoch().unwrap();
    assert_eq!(ledger.liquid(&holder), 1_000);
    // A slash burns.
    assert_eq!(
        ledger.slash(&holder, &s, Bond::Delegation, 5_000).unwrap(),
        2_000
    );
    assert_eq!(ledger.supply().burned, 2_000);
    let supply = ledger.supply();
    assert_eq!(supply.total(), supply.placed());
}
