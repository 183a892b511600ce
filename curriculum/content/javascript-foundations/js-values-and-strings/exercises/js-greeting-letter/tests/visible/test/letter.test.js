import { expect } from "chai";
import { greeting, signature, letterLength } from "../letter.js";

describe("greeting", () => {
  it("starts a letter to Maria with Dear and a comma", () => {
    expect(greeting("Maria")).to.equal("Dear Maria,");
  });

  it("works with a title and a last name", () => {
    expect(greeting("Mr. Okafor")).to.equal("Dear Mr. Okafor,");
  });
});

describe("signature", () => {
  it("puts the name, a comma and the job title together", () => {
    expect(signature("Maria Lopez", "Head Cook")).to.equal("Maria Lopez, Head Cook");
  });
});

describe("letterLength", () => {
  it("counts the characters of a short word", () => {
    expect(letterLength("Hello")).to.equal(5);
  });

  it("counts spaces and punctuation too", () => {
    expect(letterLength("See you soon.")).to.equal(13);
  });
});
