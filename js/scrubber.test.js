import { test } from "node:test";
import assert from "node:assert/strict";
import { advance, alphaReadout, alphaToSlider, createPlayer, nearestIndex, sliderToAlpha } from "./scrubber.js";

test("slider values map to α and back", () => {
  assert.equal(sliderToAlpha("250"), 0.25);
  assert.equal(sliderToAlpha(5000), 1);
  assert.equal(sliderToAlpha(-3), 0);
  assert.equal(sliderToAlpha("junk"), 0);
  assert.equal(alphaToSlider(0.1234), 123);
});

test("nearestIndex finds the closest α of an uneven grid", () => {
  const alphas = [0.02, 0.1, 0.5, 0.9, 0.98];
  assert.equal(nearestIndex(alphas, 0), 0);
  assert.equal(nearestIndex(alphas, 0.07), 1);
  assert.equal(nearestIndex(alphas, 0.3), 1, "tie goes to the lower point");
  assert.equal(nearestIndex(alphas, 0.31), 2);
  assert.equal(nearestIndex(alphas, 1), 4);
  assert.equal(nearestIndex([0.5], 0.9), 0);
  assert.equal(nearestIndex([], 0.5), -1);
});

test("advance sweeps and loops", () => {
  assert.equal(advance(0, 1000, 4000), 0.25);
  assert.ok(Math.abs(advance(0.9, 800, 4000) - 0.1) < 1e-12);
});

test("the player steps α on each frame and stops on pause", () => {
  let alpha = 1;
  let clock = 0;
  const frames = [];
  const states = [];
  const player = createPlayer({
    getAlpha: () => alpha,
    onAlpha: (a) => {
      alpha = a;
    },
    onChange: (s) => states.push(s),
    period: 1000,
    now: () => clock,
    schedule: (fn) => {
      frames.push(fn);
      return frames.length;
    },
    cancel: () => {},
  });
  player.play();
  assert.equal(alpha, 0, "starting at the end restarts from 0");
  assert.ok(player.playing);
  clock = 100;
  frames.shift()();
  assert.ok(Math.abs(alpha - 0.1) < 1e-12);
  clock = 300;
  frames.shift()();
  assert.ok(Math.abs(alpha - 0.3) < 1e-12);
  player.toggle();
  assert.ok(!player.playing);
  assert.deepEqual(states, [true, false]);
});

test("alphaReadout names the path point the images show", () => {
  const alphas = [0, 0.24, 0.5, 1];
  assert.deepEqual(alphaReadout(0.2, alphas), {
    alpha: "α = 0.200",
    shown: "images show the nearest point with maps, α = 0.240 (path point 2 of 4)",
  });
  assert.deepEqual(alphaReadout(0.5, alphas), { alpha: "α = 0.500", shown: "images show path point 3 of 4" });
  assert.deepEqual(alphaReadout(0.2, null), { alpha: "α = 0.200", shown: "" });
  assert.deepEqual(alphaReadout(0.2, []), { alpha: "α = 0.200", shown: "" });
});

test("alphaReadout counts the points of the path, not the frames sent", () => {
  const path = [0, 0.1, 0.2, 0.5, 0.8, 1];
  const frames = [0, 0.5, 1];
  assert.equal(alphaReadout(0.5, frames, path).shown, "images show path point 4 of 6");
  assert.match(alphaReadout(0.45, frames, path).shown, /nearest point with maps, α = 0.500 \(path point 4 of 6\)/);
});
