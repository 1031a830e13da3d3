// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Freeside plain collection (NOT enumerable)
/// @notice Local-chain test fixture: a plain ERC-721 without ERC721Enumerable, so
///         supportsInterface(0x780e9d63) is false and tokenOfOwnerByIndex does not exist.
///         Used to exercise the product's "not Enumerable" fallback path.
contract PlainCollection is ERC721, Ownable {
    constructor() ERC721("Freeside Plain", "FSP") Ownable(msg.sender) {}

    function mint(address to, uint256 tokenId) external onlyOwner {
        _safeMint(to, tokenId);
    }
}
