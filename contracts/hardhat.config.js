// The local EVM node the tests and the testnet deliver to (`npx hardhat node`). Contracts are
// compiled by build.js with the pinned solc, not by Hardhat.
module.exports = {
  networks: {
    hardhat: { chainId: 31337, hardfork: "cancun", mining: { auto: true } },
  },
};
