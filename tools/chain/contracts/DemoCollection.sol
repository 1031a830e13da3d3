// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Enumerable} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721Enumerable.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Freeside demo collection (enumerable)
/// @notice Local-chain test fixture: an ERC-721 that also implements ERC721Enumerable
///         (interface id 0x780e9d63), so the product can list a wallet's tokens via
///         tokenOfOwnerByIndex. Only the deployer (owner) can mint.
contract DemoCollection is ERC721Enumerable, Ownable {
    constructor() ERC721("Freeside Demo", "FSD") Ownable(msg.sender) {}

    function mint(address to, uint256 tokenId) external onlyOwner {
        _safeMint(to, tokenId);
    }

    // Required overrides: both ERC721 and ERC721Enumerable define these.
    function _update(address to, uint256 tokenId, address auth)
        internal
        override(ERC721Enumerable)
        returns (address)
    {
        return super._update(to, tokenId, auth);
    }

    function _increaseBalance(address account, uint128 amount) internal override(ERC721Enumerable) {
        super._increaseBalance(account, amount);
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721Enumerable) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
