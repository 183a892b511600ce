import { expect } from "chai";
import { fullName, initials, labelName, cleanUp } from "../names.js";

describe("fullName", () => {
  it("joins first and last name with a space", () => {
    expect(fullName("Maria", "Lopez")).to.equal("Maria Lopez");
  });
});

describe("initials", () => {
  it("gives the first letters with dots", () => {
    expect(initials("Maria", "Lopez")).to.equal("M.L.");
  });
});

describe("labelName", () => {
  it("puts the last name first, in capitals", () => {
    expect(labelName("Maria", "Lopez")).to.equal("LOPEZ, Maria");
  });
});

describe("cleanUp", () => {
  it("removes spaces around a name", () => {
    expect(cleanUp("   Maria  ")).to.equal("Maria");
  });

  it("keeps the spaces inside an address", () => {
    expect(cleanUp(" 12 Main Street ")).to.equal("12 Main Street");
  });
});
