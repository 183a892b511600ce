// Statistics for a season. Each function must RETURN its result.

export function average(points) {
  if (points.length === 0) {
    return 0;
  }
  let sum = 0;
  for (const p of points) {
    sum += p;
  }
  return sum / points.length;
}

export function bestGame(points) {
  if (points.length === 0) {
    return 0;
  }
  let bestIndex = 0;
  for (let i = 1; i < points.length; i++) {
    if (points[i] > points[bestIndex]) {
      bestIndex = i;
    }
  }
  return bestIndex + 1;
}

export function wins(ours, theirs) {
  let count = 0;
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] > theirs[i]) {
      count++;
    }
  }
  return count;
}

export function longestWinStreak(ours, theirs) {
  let current = 0;
  let best = 0;
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] > theirs[i]) {
      current++;
      if (current > best) {
        best = current;
      }
    } else {
      current = 0;
    }
  }
  return best;
}
