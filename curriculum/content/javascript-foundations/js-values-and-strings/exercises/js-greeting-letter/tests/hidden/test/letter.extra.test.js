import { expect } from "chai";
import { greeting, signature, letterLength } from "../letter.js";

describe("letter pieces, more cases", () => {
  it("greets a person with a two-part first name", () => {
    expect(greeting("Ana Paula")).to.equal("Dear Ana Paula,");
  });

  it("builds a signature for a different person and job", () => {
    expect(signature("Sam Lee", "Warehouse Supervisor")).to.equal("Sam Lee, Warehouse Supervisor");
  });

  it("gives a length for an empty letter", () => {
    expect(letterLength("")).to.equal(0);
  });
});
