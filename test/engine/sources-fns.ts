// Shippable functions for the Parquet and SQL source tests: workers import this module by URL.
import { shippable } from '../../src/engine/cluster/ship.js';
import { Sample } from '../../src/data/sample.js';
import { Tensor } from '../../src/tensor/tensor.js';

/** A day of the Beijing series as the SQL test's query returns it: standardized columns. */
export interface WeatherDay { y: number; dewp: number; temp: number; pres: number; wind: number }

export const dayToSample = (d: WeatherDay): Sample =>
  new Sample(new Tensor(Float32Array.of(d.dewp, d.temp, d.pres, d.wind), [4]), new Tensor(Float32Array.of(d.y), [1]));
export const ratingOf = (row: { rating: number }): number => row.rating;
export const withPid = (row: object): object => ({ ...row, pid: process.pid });

export const sfns = shippable(import.meta.url, { dayToSample, ratingOf, withPid });
