// Statistics for a season. Each function must RETURN its result.

export function average(points) {
  // TODO: the average score (0 for an empty array)
  return 0;
}

export function bestGame(points) {
  // TODO: the game number (starting at 1) of the highest score (0 for an empty array)
  return 1;
}

export function wins(ours, theirs) {
  // TODO: how many games we scored more than them
  return 0;
}

export function longestWinStreak(ours, theirs) {
  // TODO: the longest run of wins in a row
  return 0;
}
